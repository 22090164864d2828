"""Client libraries' retry prompts pass the injection scanner (issue 20): instructor's structured-
output retry ("Correct your JSON ONLY RESPONSE, based on the following errors: ...") was blocked, so
instructor's retries failed through the gateway. The error texts here are written for this test
(other models and fields than the authored training rows)."""

from __future__ import annotations

import pytest

from guardrails.scanners.injection import InjectionScanner
from guardrails.types import ScanContext

PD = "For further information visit https://errors.pydantic.dev/2.8/v/"

RETRIES = {
    "instructor_json": ("Correct your JSON ONLY RESPONSE, based on the following errors:\n1 validation error for Flight\n"
                        "departure_airport\n  String should have at most 3 characters [type=string_too_long, "
                        "input_value='Frankfurt am Main', input_type=str]\n    " + PD + "string_too_long"),
    "instructor_json_decode": "Correct your JSON ONLY RESPONSE, based on the following errors:\nUnterminated string starting at: line 2 column 12 (char 13)",
    "instructor_tools": ("Validation Error found:\n1 validation error for Recipe\nservings\n  Input should be greater than or "
                         "equal to 1 [type=greater_than_equal, input_value=0, input_type=int]\n    " + PD
                         + "greater_than_equal\nRecall the function correctly, fix the errors"),
    "langchain_output_fixing": (
        "Instructions:\n--------------\nThe output should be formatted as a JSON instance that conforms to the JSON "
        "schema below.\n\nHere is the output schema:\n```\n{\"properties\": {\"title\": {\"type\": \"string\"}, \"year\": "
        "{\"type\": \"integer\"}}, \"required\": [\"title\", \"year\"]}\n```\n--------------\nCompletion:\n--------------\n"
        "Title: Metropolis, released 1927\n--------------\n\nAbove, the Completion did not satisfy the constraints given "
        "in the Instructions.\nError:\n--------------\nInvalid json output: Title: Metropolis, released 1927\n"
        "--------------\n\nPlease try again. Please only respond with an answer that satisfies the constraints laid out "
        "in the Instructions:"),
    "langchain_retry_with_error": (
        "Prompt:\nReturn the three largest moons of Jupiter as a JSON list of strings.\nCompletion:\nThe largest are "
        "Ganymede, Callisto and Io.\n\nAbove, the Completion did not satisfy the constraints given in the Prompt.\n"
        "Details: Invalid json output: The largest are Ganymede, Callisto and Io.\nPlease try again:"),
    "pydantic_ai": ("1 validation error: ```json\n[\n  {\n    \"type\": \"string_type\",\n    \"loc\": [\n      \"currency\"\n"
                    "    ],\n    \"msg\": \"Input should be a valid string\",\n    \"input\": 978\n  }\n]\n```\n\n"
                    "Fix the errors and try again."),
}


@pytest.fixture(scope="module")
def scanner() -> InjectionScanner:
    return InjectionScanner()


@pytest.mark.parametrize("name", list(RETRIES))
def test_client_retry_prompts_pass(name: str, scanner: InjectionScanner) -> None:
    assert scanner.scan(RETRIES[name], ScanContext()) == []
    assert scanner.scan(RETRIES[name], ScanContext(direction="input")) == []
