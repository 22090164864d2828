"""Retrieval quality on the ExpMRC SQuAD set (datasets/rag/expmrc_squad), used by the
quality test and bench. Tuning only on the dev split the datasets README defines; report the rest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from guardrails.datasets import dataset_path
from rag.config import RetrieverConfig
from rag.loaders import LoadedDocument, Section
from rag.retrieval import Retriever


def dataset_dir() -> Path:
    return dataset_path("rag", "expmrc_squad")


def is_dev(qid: str) -> bool:
    return int(hashlib.sha256(qid.encode()).hexdigest(), 16) % 10 < 3


def load_corpus() -> list[LoadedDocument]:
    docs = []
    with open(dataset_dir() / "corpus/corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            docs.append(LoadedDocument(
                source=row["doc_id"], title=row["title"], kind="text",
                file_hash=hashlib.sha256(row["text"].encode()).hexdigest(),
                sections=[Section("", row["text"])], metadata={"doc_id": row["doc_id"]}))
    return docs


def load_questions(split: str) -> list[dict]:
    with open(dataset_dir() / "qa.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    if split == "all":
        return rows
    return [r for r in rows if is_dev(r["id"]) == (split == "dev")]


@dataclass
class Quality:
    recall_at_5: float
    mrr: float
    n: int


def evaluate(retriever: Retriever, questions: list[dict], depth: int = 20) -> Quality:
    """recall@5 and MRR (over the top `depth` chunks) of the question's passage; several chunks of
    one passage count as that passage at its best rank."""
    hits5 = 0
    rr = 0.0
    for q in questions:
        gold = q["reference_doc_ids"][0]
        seen: list[str] = []
        for h in retriever.retrieve(q["question"], top_k=depth):
            d = h.metadata["doc_id"]
            if d not in seen:
                seen.append(d)
        if gold in seen[:5]:
            hits5 += 1
        if gold in seen:
            rr += 1.0 / (seen.index(gold) + 1)
    n = len(questions)
    return Quality(hits5 / n, rr / n, n)


def retriever_config(mode: str, **kw: object) -> RetrieverConfig:
    return RetrieverConfig(mode=mode, top_k=20, **kw)  # type: ignore[arg-type]
