"""The real servers the other tests rely on start, answer, and are isolated per session."""


import pytest

pytestmark = pytest.mark.services


def test_redis_answers_ping(redis_url: str) -> None:
    import redis

    r = redis.Redis.from_url(redis_url)
    assert r.ping() is True
    r.set("k", "v")
    assert r.get("k") == b"v"


def test_postgres_accepts_queries(postgres_url: str) -> None:
    import sqlalchemy as sa

    eng = sa.create_engine(postgres_url)
    with eng.connect() as c:
        assert c.execute(sa.text("select 40 + 2")).scalar() == 42
    eng.dispose()


def test_chroma_server_heartbeat(chroma_server) -> None:
    import chromadb

    client = chromadb.HttpClient(host=chroma_server.host, port=chroma_server.port)
    assert isinstance(client.heartbeat(), int)
    col = client.get_or_create_collection("probe")
    col.add(ids=["a"], embeddings=[[1.0, 0.0, 0.0]], documents=["x"])
    assert col.query(query_embeddings=[[1.0, 0.0, 0.0]], n_results=1)["ids"] == [["a"]]
