"""Config section `rag:` (owned by this package; gateway/config.py composes it).

```yaml
rag:
  store: {mode: embedded, path: .sluice/chroma}      # or {mode: server, host: 127.0.0.1, port: 8000}
  chunking: {max_tokens: 256, overlap_tokens: 32}
  pipelines:
    handbook:
      collection: handbook
      model: gpt-4o-mini                              # chat model group used for the answer
      retriever: {mode: hybrid, top_k: 5, dense_weight: 1.0, bm25_weight: 1.0, min_score: 0.2}
      prompt: rag-answer@production                   # or prompt_template: "...{context}...{question}"
      citation_style: brackets
      scan_injection: true
```
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TEMPLATE = (
    "Answer the question using only the numbered context passages below. {citation_instruction}"
    " If the context does not contain the answer, say that you do not know.\n\n"
    "Context:\n{context}\n\nQuestion: {question}"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Strict):
    """Where the vectors live: Chroma embedded (a folder) or a Chroma server (`chroma run`)."""

    mode: Literal["embedded", "server"] = "embedded"
    path: str = Field(default=".sluice/chroma", description="folder of the embedded store")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class ChunkingConfig(_Strict):
    """Chunk sizes in the embedding model's own wordpieces (MiniLM's window is 256)."""

    max_tokens: int = Field(default=256, ge=16, le=512)
    overlap_tokens: int = Field(default=32, ge=0)
    prepend_title: bool = Field(default=True, description="index 'title / heading' with each chunk")

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkingConfig:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("chunking.overlap_tokens must be smaller than chunking.max_tokens")
        return self


class RetrieverConfig(_Strict):
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    top_k: int = Field(default=5, ge=1, le=100)
    candidates: int = Field(default=30, ge=1, le=1000, description="per-retriever pool before fusion")
    # Defaults tuned on the dev split of datasets/rag/expmrc_squad (rag/README.md).
    fusion: Literal["rrf", "score"] = Field(
        default="score", description="score: weighted min-max normalised scores; rrf: weighted reciprocal rank")
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=0.5, ge=0)
    bm25_weight: float = Field(default=0.5, ge=0)
    mmr: bool = Field(default=False, description="re-order the fused pool for diversity (MMR)")
    mmr_lambda: float = Field(default=0.5, ge=0, le=1, description="1 = relevance only, 0 = diversity only")
    min_score: float | None = Field(default=None, ge=-1, le=1,
                                    description="similarity floor: drop chunks whose cosine is below")
    filters: dict[str, Any] = Field(default_factory=dict, description="Chroma-style metadata `where`")


class SeedConfig(_Strict):
    """Documents ingested when the gateway starts and the pipeline's collection is empty (a demo, or a
    fresh deployment); a collection that holds anything is left alone, so later changes are ingested
    with `sluice rag ingest`."""

    paths: list[str] = Field(min_length=1, description="files or folders, relative to the config file")
    root: str | None = Field(default=None, description="sources are named relative to this folder "
                             "(relative to the config file; default: the first path when it is a folder)")


class PipelineConfig(_Strict):
    collection: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,200}[a-zA-Z0-9]$",
                            description="Chroma collection: 3+ characters from [a-zA-Z0-9._-]")
    per_tenant: bool = Field(default=False, description="one collection per tenant: '<collection>__<tenant>'")
    model: str | None = Field(default=None, description="chat model group that writes the answer")
    embedding_model: str | None = Field(default=None, description="embedding model group; default: local MiniLM")
    retriever: RetrieverConfig = Field(default_factory=RetrieverConfig)
    prompt: str | None = Field(default=None, description="registered prompt 'name@label-or-version'")
    prompt_template: str | None = Field(default=None, description="inline template with {context} and {question}")
    system_prompt: str | None = None
    citation_style: Literal["brackets", "none"] = "brackets"
    scan_injection: bool = Field(default=False, description="run retrieved chunks through the injection scanner")
    scan_injection_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="the classifier's score threshold for this pipeline's chunks (default: the classifier's "
        "own; lower catches more injected documents and drops more benign ones)")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    store: StoreConfig | None = Field(default=None, description="overrides rag.store for this pipeline")
    seed: SeedConfig | None = Field(default=None, description="ingest these documents at start-up when the "
                                    "collection is empty")

    @model_validator(mode="after")
    def _one_prompt_source(self) -> PipelineConfig:
        if self.prompt and self.prompt_template:
            raise ValueError("give either prompt (name@label) or prompt_template (inline), not both")
        if self.prompt and "@" not in self.prompt:
            raise ValueError(f"prompt {self.prompt!r} must be 'name@label-or-version', e.g. rag-answer@production")
        if self.seed and self.per_tenant:
            raise ValueError("seed fills one shared collection; a per_tenant pipeline is filled per tenant "
                             "with `sluice rag ingest --collection <collection>__<tenant>`")
        if self.seed and self.embedding_model:
            raise ValueError("seed embeds with the local MiniLM model; with embedding_model set, ingest "
                             "with `sluice rag ingest` instead")
        return self

    def template(self) -> str:
        return self.prompt_template or DEFAULT_TEMPLATE

    def collection_for(self, tenant: str | None) -> str:
        if self.per_tenant and tenant:
            return f"{self.collection}__{tenant}"
        return self.collection


class RagConfig(_Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    pipelines: dict[str, PipelineConfig] = Field(default_factory=dict)

    def pipeline(self, name: str) -> PipelineConfig | None:
        return self.pipelines.get(name)

    def store_for(self, name: str) -> StoreConfig:
        p = self.pipelines.get(name)
        return p.store if p and p.store else self.store
