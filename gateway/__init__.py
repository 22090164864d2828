"""sluicegate: an OpenAI-compatible LLM gateway with an evaluation harness."""

__all__ = ["__version__", "create_app"]
__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: importing the package must stay cheap
    if name == "create_app":
        from gateway.app import create_app

        return create_app
    raise AttributeError(name)
