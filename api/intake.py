"""The intake over HTTP: /intake/ (template, upload, validation report, review), /releases and /audit.

HTML for browsers (Vietnamese first, English beside it) and the same as JSON for scripts. Every write asks
for an account first (401/403 before the body is read); an upload becomes a pending submission, never a
change; approval rebuilds and publishes a new release (layers.intake).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from api.auth import CSRF_FIELD, Auth, body, form_payload, wants_html
from api.errors import Forbidden, NotFoundError
from geo.errors import InputDataError
from geo.importing import VECTOR_KINDS, ImportFailed
from geo.policy import Standards
from geo.settings import AtlasSettings, DataSettings
from layers.accounts import Submission, User
from layers.intake import (
    IntakeSettings,
    Tables,
    approve,
    check_upload,
    comparison,
    reject,
    release_file,
    release_views,
    report_json,
    review_year,
    submit,
    template_workbook,
    unit_names,
)
from layers.publish import publisher_for

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def data_settings(settings: AtlasSettings) -> DataSettings:
    """The pipeline's settings for the warehouse the server serves (approval rebuilds it)."""
    shared = {name: getattr(settings, name) for name in AtlasSettings.model_fields}
    return DataSettings(**shared)


def submission_json(sub: Submission, base: str) -> dict[str, Any]:
    """A submission as JSON (without its rows), with links."""
    return {
        "id": sub.id,
        "username": sub.username,
        "kind": sub.kind,
        "year": sub.year,
        "standard": sub.standard,
        "units": list(sub.units),
        "file_name": sub.file_name,
        "sha256": sub.sha256,
        "rows": len(sub.rows),
        "status": sub.status,
        "created_at": sub.created_at,
        "decided_by": sub.decided_by,
        "decided_at": sub.decided_at,
        "reason": sub.reason,
        "release": sub.release,
        "links": {"self": f"{base}/intake/submissions/{sub.id}"},
    }


def intake_routes(
    auth: Auth, settings: AtlasSettings, templates: Jinja2Templates, base: str, tables: Tables
) -> APIRouter:
    """Routes of the intake, the releases and the audit log; `tables` gives the served build's layers."""
    router = APIRouter()
    limits = IntakeSettings()
    standards = Standards.load()
    warehouse = Path(settings.warehouse)
    store = auth.store
    server = auth.settings

    def year_and_standard() -> tuple[int, str]:
        year = review_year(limits)
        return year, standards.for_year(year).id

    def visible(user: User, sub: Submission) -> None:
        if sub.username != user.username and not user.can_review():
            raise Forbidden(f"submission {sub.id} belongs to another account / hồ sơ của tài khoản khác")

    def page(request: Request, user: User, status: int = 200, **extra: Any) -> Response:
        year, standard = year_and_standard()
        mine = store.submissions(username=None if user.can_review() else user.username)
        names = unit_names(tables).to_dict()
        context = {
            "user": user,
            "units": [(u, names.get(u, "")) for u in user.units],
            "year": year,
            "standard": standards.get(standard),
            "submissions": mine,
            "pending": [s for s in mine if s.status == "pending"] if user.can_review() else [],
            "report": None,
            "error": None,
        } | extra
        return auth.render(templates, request, "intake/intake.html", context, status)

    @router.get("/intake/", summary="Intake of the annual review", response_model=None)
    def intake_home(request: Request) -> Response:
        """The officer's page: template, upload, submissions; reviewers also see what waits for them."""
        user = auth.user(request)
        if user is None:
            if wants_html(request):
                return RedirectResponse(base + "/login?next=/intake/", status_code=303)
            auth.require(request)
        assert user is not None
        if wants_html(request):
            return page(request, user)
        year, standard = year_and_standard()
        mine = store.submissions(username=None if user.can_review() else user.username)
        return JSONResponse(
            {
                "user": {"username": user.username, "role": user.role, "units": list(user.units)},
                "review_year": year,
                "standard": standard,
                "template": f"{base}/intake/template.xlsx",
                "submissions": [submission_json(s, base) for s in mine],
            }
        )

    @router.get("/intake/template.xlsx", summary="Template of the annual review", response_class=Response)
    def template(request: Request, units: str | None = None) -> Response:
        """An XLSX template of the review year for the account's units (reviewers: ?units=code,code)."""
        user = auth.require(request)
        year, standard = year_and_standard()
        chosen = [u.strip() for u in (units or "").split(",") if u.strip()] or list(user.units)
        if not chosen:
            raise Forbidden(f"account {user.username!r} has no assigned unit / tài khoản chưa được giao đơn vị nào")
        foreign = [u for u in chosen if not user.may_send(u)]
        if foreign:
            raise Forbidden(f"account {user.username!r} is not assigned unit(s) {', '.join(foreign)}")
        known = set(unit_names(tables).index)
        if unknown := [u for u in chosen if u not in known]:
            raise NotFoundError(f"unknown 2025 unit code(s): {', '.join(unknown)}")
        body = template_workbook(tables, chosen, year, standards.get(standard))
        name = f"ra-soat-{year}-{'-'.join(chosen[:3])}.xlsx"
        return Response(body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.get(
        "/intake/programme-template.xlsx", summary="Template of the programme register", response_class=Response
    )
    def programme_template(request: Request) -> Response:
        """The register template of national target programme projects: one row per project, a column per quarter
        of the year under way (money in million VND)."""
        from geo.programme import Quarter
        from geo.programme_import import template_workbook as register_template

        auth.require(request)
        year = datetime.now(UTC).year
        body = register_template(Quarter(year, 1), Quarter(year, 4))
        name = f"so-theo-doi-du-an-{year}.xlsx"
        return Response(body, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @router.post(
        "/intake/submissions",
        summary="Send figures",
        response_model=None,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "csrftoken": {"type": "string"},
                                "file": {"type": "string", "format": "binary"},
                                "kind": {
                                    "type": "string",
                                    "enum": list(VECTOR_KINDS),
                                    "description": "the kind of an infrastructure layer (GeoPackage, GeoJSON, "
                                    "zipped Shapefile); not for tables",
                                },
                            },
                        }
                    }
                },
            }
        },
    )
    async def upload(request: Request) -> Response:
        """Upload a filled template (or a commune table the importers read): a pending submission, or 422 with
        the row-by-row report. Credentials are checked before the body is read."""
        user = auth.require(request)
        auth.limit(f"upload:{user.username}", server.upload_attempts, server.upload_window, "uploads")
        form = await request.form(max_files=1, max_fields=10)
        item = form.get("file")
        if not isinstance(item, UploadFile) or not item.filename:
            raise InputDataError("file", "send the file in a multipart field named 'file'")
        auth.check_csrf(request, {CSRF_FIELD: form.get(CSRF_FIELD)})
        data = await item.read()
        name = Path(item.filename.replace("\\", "/")).name
        year, _ = year_and_standard()
        try:
            kind = form.get("kind")
            checked = await run_in_threadpool(
                check_upload, tables, user, data, name, year, standards, limits, kind if isinstance(kind, str) else None
            )
        except ImportFailed as exc:
            report = report_json(exc.report)
            store.record(user.username, "upload-refused", name, f"{report['errors']} problem(s)", auth.address(request))
            if wants_html(request):
                return page(request, user, 422, report=report, error=str(exc))
            return JSONResponse({"code": "InvalidFile", "description": str(exc), "report": report}, status_code=422)
        except InputDataError as exc:
            store.record(user.username, "upload-refused", name, str(exc)[:300], auth.address(request))
            if wants_html(request):
                return page(request, user, 422, error=str(exc))
            return JSONResponse({"code": "InvalidFile", "description": str(exc)}, status_code=422)
        submission = submit(store, user, checked, name, data, auth.address(request))
        location = f"{base}/intake/submissions/{submission.id}"
        if wants_html(request):
            return RedirectResponse(location, status_code=303)
        body = submission_json(submission, base) | {"report": report_json(checked.report)}
        return JSONResponse(body, status_code=201, headers={"Location": location})

    @router.get("/intake/submissions", summary="Submissions", response_model=None)
    def list_submissions(request: Request, status: str | None = None) -> Response:
        """The account's submissions (reviewers: everyone's), newest first."""
        user = auth.require(request)
        listed = store.submissions(status, None if user.can_review() else user.username)
        return JSONResponse({"submissions": [submission_json(s, base) for s in listed]})

    @router.get("/intake/submissions/{number}", summary="One submission", response_model=None)
    def one(request: Request, number: int) -> Response:
        """A submission with its validation report and, against the published values, old/new/difference."""
        user = auth.require(request)
        sub = store.submission(number)
        visible(user, sub)
        lines = comparison(tables, sub, limits.max_rate_change)
        if wants_html(request):
            context = {
                "user": user,
                "sub": sub,
                "lines": [line for line in lines if not line["indicator"].startswith("deprived_")],
                "deprived": [line for line in lines if line["indicator"].startswith("deprived_")],
                "limit": limits.max_rate_change,
            }
            return auth.render(templates, request, "intake/submission.html", context)
        return JSONResponse(submission_json(sub, base) | {"report": sub.report, "comparison": lines})

    @router.get("/intake/submissions/{number}/original", summary="The file sent", response_class=Response)
    def original(request: Request, number: int) -> Response:
        """The file a submission was made from, as uploaded."""
        user = auth.require(request)
        sub = store.submission(number)
        visible(user, sub)
        suffix = Path(sub.file_name).suffix.lower()
        media = XLSX if suffix == ".xlsx" else "text/csv"
        return Response(
            store.original(number),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="submission-{number}{suffix}"'},
        )

    @router.post("/intake/submissions/{number}/approve", summary="Approve and publish", response_model=None)
    async def approve_route(request: Request, number: int) -> Response:
        """Approve a pending submission: rebuild with it and publish a new release."""
        user = auth.require(request, review=True)
        auth.check_csrf(request, await form_payload(request))
        settings_ = data_settings(settings)
        sub, release = await run_in_threadpool(approve, settings_, store, number, user, auth.address(request))
        if wants_html(request):
            return RedirectResponse(f"{base}/intake/submissions/{number}", status_code=303)
        return JSONResponse(submission_json(sub, base) | {"release": release.__dict__})

    @router.post(
        "/intake/submissions/{number}/reject",
        summary="Reject",
        response_model=None,
        openapi_extra=body(["reason"], {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}),
    )
    async def reject_route(request: Request, number: int) -> Response:
        """Reject a pending submission with a reason the officer sees."""
        user = auth.require(request, review=True)
        form = await form_payload(request)
        auth.check_csrf(request, form)
        reason = str(form.get("reason", ""))
        sub = reject(store, number, user, reason, auth.address(request))
        if wants_html(request):
            return RedirectResponse(f"{base}/intake/submissions/{number}", status_code=303)
        return JSONResponse(submission_json(sub, base))

    @router.get("/releases", summary="Releases", response_model=None)
    def releases(request: Request) -> Response:
        """Every release of the warehouse, newest first: who, when, what changed, file checksum."""
        views = release_views(store, publisher_for(warehouse, settings))
        if wants_html(request):
            user = auth.user(request)
            return auth.render(templates, request, "intake/releases.html", {"releases": views, "user": user})
        return JSONResponse({"releases": [v.as_json(base) for v in views]})

    @router.api_route(
        "/releases/{number}/warehouse.gpkg", methods=["GET", "HEAD"], summary="Download a release", response_model=None
    )
    def release_download(number: int) -> Response:
        """The GeoPackage of a kept release."""
        publisher = publisher_for(warehouse, settings)
        try:
            path = release_file(data_settings(settings), publisher, number, settings.cache_dir / "releases")
        except LookupError:
            known = [v.number for v in release_views(store, publisher)]
            if number in known:
                return JSONResponse(
                    {
                        "code": "Gone",
                        "description": f"release {number} is listed but its file is no longer kept "
                        "(ATLAS_KEEP_PUBLISHES keeps the newest ones)",
                    },
                    status_code=410,
                )
            raise NotFoundError(f"no release {number}") from None
        return FileResponse(
            path, media_type="application/geopackage+sqlite3", filename=f"sonla-atlas-release-{number}.gpkg"
        )

    @router.get("/audit", summary="Audit log", response_model=None)
    def audit_log(request: Request, limit: int = 200, offset: int = 0, action: str | None = None) -> Response:
        """The audit log, newest first (reviewers and admins)."""
        auth.require(request, review=True)
        entries = store.audit_log(min(max(limit, 1), 5000), max(offset, 0), action)
        if wants_html(request):
            return auth.render(
                templates, request, "intake/audit.html", {"entries": entries, "user": auth.user(request)}
            )
        return JSONResponse({"entries": [e.__dict__ for e in entries]})

    @router.get("/audit.csv", summary="Audit log as CSV", response_class=Response)
    def audit_csv(request: Request) -> Response:
        """The whole audit log as CSV (UTF-8 with BOM, for Excel)."""
        auth.require(request, review=True)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "at", "username", "action", "target", "detail", "address"])
        for e in store.audit_log():
            writer.writerow([e.id, e.at, e.username, e.action, e.target, e.detail, e.address])
        return Response(
            "\ufeff" + out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="atlas-audit.csv"'},
        )

    return router
