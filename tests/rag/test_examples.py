"""examples/rag: the config parses, the corpus ingests, and every eval question retrieves its source."""

import json
from pathlib import Path

import yaml

from gateway.config import load_config
from rag.config import StoreConfig
from rag.ingest import Ingestor
from rag.retrieval import Retriever
from rag.store import ChromaStore

EX = Path(__file__).resolve().parents[2] / "examples" / "rag"


def test_example_pipeline_retrieves_each_eval_source(tmp_path: Path, minilm) -> None:  # type: ignore[no-untyped-def]
    cfg = load_config(EX / "sluice.yaml")
    pipe = cfg.rag.pipelines["handbook"]
    assert pipe.model == "smollm2" and cfg.group("smollm2") is not None
    store = ChromaStore(StoreConfig(path=str(tmp_path / "db")))
    res = Ingestor(store, pipe.collection, minilm.embed, minilm.count_tokens, cfg.rag.chunking) \
        .ingest_paths([EX / "corpus"], root=EX / "corpus")
    assert sorted(res.added) == ["expenses.md", "holidays.md", "remote-work.txt", "security.html"]
    retriever = Retriever(store, pipe.collection, minilm.embed, pipe.retriever)
    cases = [json.loads(line) for line in (EX / "data" / "handbook-rag.jsonl").read_text().splitlines()]
    misses = []
    for case in cases:
        hits = retriever.retrieve(case["vars"]["input"])
        if not hits or hits[0].metadata["source"] != case["vars"]["source"]:
            misses.append((case["id"], [h.metadata["source"] for h in hits]))
    assert not misses


def test_example_suite_targets_the_pipeline() -> None:
    suite = yaml.safe_load((EX / "handbook-rag.yaml").read_text())
    assert suite["target"] == {"rag": "handbook"}
    assert (EX / suite["dataset"]).exists() and suite["thresholds"]["pass_rate"] > 0
