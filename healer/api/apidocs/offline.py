"""/docs with Swagger UI's files from the swagger-ui-bundle package instead of a CDN: the
healer often runs where the browser reaching it has no internet, and FastAPI's default page
then stays blank. Without the package the page is off (404) rather than broken.

The page, its assets and /openapi.json describe the API, not the cluster: they need no token.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
PUBLIC_PATHS = frozenset({"/docs", "/openapi.json"})


def assets_dir() -> str | None:
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return str(swagger_ui_bundle.swagger_ui_path)


def install(app: FastAPI) -> None:
    """Call on an app built with docs_url=None and redoc_url=None."""
    folder = assets_dir()
    if folder is None:
        return
    app.mount(ASSETS, StaticFiles(directory=folder), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
