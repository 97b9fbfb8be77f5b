"""Print the OpenAPI document (`make openapi` writes it to openapi.json)."""

import json

from app.main import create_app
from app.settings import Settings


def openapi_document() -> str:
    app = create_app(Settings(database_url="sqlite://"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(openapi_document(), end="")
