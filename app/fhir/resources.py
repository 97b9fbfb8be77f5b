"""Kairos questionnaires and check-ins as FHIR R4 resources, and FHIR questionnaires back
as item packs (pure: data in, data out; the resources are built and checked by
fhir.resources' R4B models, whose R4 subset is what these resources use).

Kairos's own codes live under NAMESPACE: an identifier, not an address that resolves.
"""

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from app.rules.items import (
    MAX_TEXT_ANSWER,
    SLIDER_RANGE,
    Answer,
    Item,
    ItemPack,
    localized_text,
)
from app.rules.process import Pole

NAMESPACE = "https://kairos.invalid/fhir"
POLE_SYSTEM = f"{NAMESPACE}/CodeSystem/process-pole"
FLAG_SYSTEM = f"{NAMESPACE}/CodeSystem/item-flag"
RISK_TIER_SYSTEM = f"{NAMESPACE}/CodeSystem/risk-tier"
RISK_TIER_EXTENSION = f"{NAMESPACE}/StructureDefinition/risk-tier"
RISK_FLAG = "risk"

_HL7 = "http://hl7.org/fhir/StructureDefinition"
ITEM_CONTROL = f"{_HL7}/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"
SLIDER_STEP = f"{_HL7}/questionnaire-sliderStepValue"
MIN_VALUE = f"{_HL7}/minValue"
MAX_VALUE = f"{_HL7}/maxValue"
ORDINAL_VALUE = f"{_HL7}/ordinalValue"
TRANSLATION = f"{_HL7}/translation"
_URL = re.compile(r"^https?://\S+$")


def questionnaire_url(study_id: uuid.UUID) -> str:
    """The canonical URL of a study's check-in; its versions are the questionnaire's."""
    return f"{NAMESPACE}/Questionnaire/{study_id}"


def pseudonym_system(study_id: uuid.UUID) -> str:
    return f"{NAMESPACE}/study/{study_id}/pseudonym"


def checkin_system(study_id: uuid.UUID) -> str:
    return f"{NAMESPACE}/study/{study_id}/check-in"


# Writing -------------------------------------------------------------------------------


def _text(texts: Mapping[str, str], locale: str, field: str = "text") -> dict[str, Any]:
    """A text in `locale` (else the first one), with every other locale as a translation."""
    main = locale if locale in texts else next(iter(texts))
    translations = [
        {
            "url": TRANSLATION,
            "extension": [
                {"url": "lang", "valueCode": lang},
                {"url": "content", "valueString": content},
            ],
        }
        for lang, content in texts.items()
        if lang != locale
    ]
    out: dict[str, Any] = {field: texts[main]}
    if translations:
        out[f"_{field}"] = {"extension": translations}
    return out


def _control(code: str) -> dict[str, Any]:
    coding = {"system": ITEM_CONTROL_SYSTEM, "code": code}
    return {"url": ITEM_CONTROL, "valueCodeableConcept": {"coding": [coding]}}


def _anchor_items(item: Item, locale: str) -> list[dict[str, Any]]:
    """A scale's end labels, as the display items that SDC renders at its two ends."""
    if not item.anchors:
        return []
    return [
        {
            "linkId": f"{item.key}.{end}",
            "type": "display",
            "extension": [_control(end)],
            **_text({lang: pair[index] for lang, pair in item.anchors.items()}, locale),
        }
        for index, end in enumerate(("lower", "upper"))
    ]


def _codes(item: Item) -> list[dict[str, str]]:
    codes = []
    if item.pole is not None:
        codes.append({"system": POLE_SYSTEM, "code": str(item.pole)})
    if item.risk:
        codes.append({"system": FLAG_SYSTEM, "code": RISK_FLAG, "display": "Screened for safety"})
    return codes


def _fhir_item(item: Item, locale: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "linkId": item.key,
        **_text(item.text, locale),
        "required": item.required,
    }
    if codes := _codes(item):
        out["code"] = codes
    if item.type == "slider":
        low, high = SLIDER_RANGE
        out["type"] = "integer"
        out["extension"] = [
            _control("slider"),
            {"url": SLIDER_STEP, "valueInteger": 1},
            {"url": MIN_VALUE, "valueInteger": low},
            {"url": MAX_VALUE, "valueInteger": high},
        ]
    elif item.type == "likert":
        low, high = item.range or SLIDER_RANGE
        out["type"] = "choice"
        out["answerOption"] = [
            {
                "valueCoding": {
                    "code": str(value),
                    "display": str(value),
                    "extension": [{"url": ORDINAL_VALUE, "valueDecimal": value}],
                }
            }
            for value in range(low, high + 1)
        ]
    elif item.type == "choice":
        out["type"] = "choice"
        out["answerOption"] = [
            {
                "valueCoding": {"code": choice.key, **_text(choice.label, locale, "display")},
                **(
                    {
                        "extension": [
                            {
                                "url": RISK_TIER_EXTENSION,
                                "valueCoding": {"system": RISK_TIER_SYSTEM, "code": choice.risk},
                            }
                        ]
                    }
                    if choice.risk
                    else {}
                ),
            }
            for choice in item.choices or []
        ]
    elif item.type == "boolean":
        out["type"] = "boolean"
    else:
        out["type"] = "text"
        out["maxLength"] = MAX_TEXT_ANSWER
    if anchors := _anchor_items(item, locale):
        out["item"] = anchors
    return out


def _copyright(packs: Sequence[Mapping[str, str]]) -> str | None:
    lines = [f"{p['name']}: {p['licence']} (source: {p['source']})" for p in packs]
    return "\n\n".join(lines) or None


def questionnaire_resource(
    *,
    study_id: uuid.UUID,
    title: str,
    locale: str,
    version: int,
    items: Sequence[Item],
    packs: Sequence[Mapping[str, str]],
    status: str,
    date: datetime,
) -> FhirQuestionnaire:
    """One version of a study's check-in, every locale in it (status: draft, active for
    the version in use, retired for the ones before it)."""
    sources = [p["source"] for p in packs if _URL.match(p["source"])]
    body: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": f"{study_id}-{version}",
        "url": questionnaire_url(study_id),
        "version": str(version),
        "name": "KairosCheckIn",
        "title": title,
        "status": status,
        "date": date.isoformat(),
        "language": locale,
        "subjectType": ["Patient"],
        "copyright": _copyright(packs),
        "derivedFrom": sources or None,
        "item": [_fhir_item(item, locale) for item in items],
    }
    return FhirQuestionnaire.model_validate({k: v for k, v in body.items() if v is not None})


def _answer(item: Item, value: Answer, locale: str) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if item.type == "slider":
        assert isinstance(value, int | float)
        whole = float(value).is_integer()
        # A phone may send a fraction of a point: kept as it came, as a decimal.
        return {"valueInteger": int(value)} if whole else {"valueDecimal": value}
    if item.type == "likert":
        assert isinstance(value, int | float)
        return {"valueCoding": {"code": str(int(value)), "display": str(int(value))}}
    if item.type == "choice":
        label = next(c.label for c in item.choices or [] if c.key == value)
        return {"valueCoding": {"code": value, "display": localized_text(label, None, locale)}}
    if item.type == "boolean":
        return {"valueBoolean": value}
    return {"valueString": value}


def response_resource(
    *,
    study_id: uuid.UUID,
    version: int,
    items: Sequence[Item],
    locale: str,
    pseudonym: str,
    client_id: str,
    answered_at: datetime,
    offset_minutes: int,
    answers: Mapping[str, Any],
) -> QuestionnaireResponse:
    """One check-in: who by pseudonym only, answered-at on the phone's own clock."""
    answered = []
    for item in items:
        answer = _answer(item, answers.get(item.key), locale)
        if answer is not None:
            answered.append({"linkId": item.key, "answer": [answer]})
    local = answered_at.astimezone(timezone(timedelta(minutes=offset_minutes)))
    body: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": checkin_system(study_id), "value": client_id},
        "questionnaire": f"{questionnaire_url(study_id)}|{version}",
        "status": "completed",
        "subject": {
            "type": "Patient",
            "identifier": {"system": pseudonym_system(study_id), "value": pseudonym},
        },
        "authored": local.isoformat(),
    }
    if answered:
        body["item"] = answered
    return QuestionnaireResponse.model_validate(body)


# Reading -------------------------------------------------------------------------------


class Unsupported(ValueError):
    """A FHIR questionnaire Kairos cannot load: `path` names where, the message says why."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _path(location: Sequence[int | str]) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_questionnaire(body: Any) -> FhirQuestionnaire:
    """A FHIR R4 Questionnaire, validated by fhir.resources; Unsupported names the path."""
    if not isinstance(body, dict) or body.get("resourceType") != "Questionnaire":
        raise Unsupported("resourceType", "must be Questionnaire")
    try:
        return FhirQuestionnaire.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        raise Unsupported(_path(first["loc"]), first["msg"]) from None


def _extension(element: Any, url: str) -> Any:
    return next((e for e in element.extension or [] if e.url == url), None)


def _texts(value: str | None, extension: Any, locale: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for translation in (extension.extension or []) if extension else []:
        if translation.url == TRANSLATION:
            parts = {part.url: part for part in translation.extension or []}
            if "lang" in parts and "content" in parts:
                texts[parts["lang"].valueCode] = parts["content"].valueString
    if value is not None and locale not in texts:
        texts = {locale: value, **texts}
    return texts


def _controls(element: Any) -> set[str]:
    return {
        coding.code
        for extension in element.extension or []
        if extension.url == ITEM_CONTROL and extension.valueCodeableConcept
        for coding in extension.valueCodeableConcept.coding or []
    }


def _anchors(fhir_item: Any, locale: str) -> dict[str, tuple[str, str]] | None:
    ends: dict[str, dict[str, str]] = {}
    for child in fhir_item.item or []:
        control = _controls(child) & {"lower", "upper"}
        if child.type == "display" and control:
            ends[control.pop()] = _texts(child.text, child.text__ext, locale)
    lower, upper = ends.get("lower", {}), ends.get("upper", {})
    anchors = {lang: (lower[lang], upper[lang]) for lang in lower if lang in upper}
    return anchors or None


def _ordinals(fhir_item: Any) -> list[float] | None:
    """The options' ordinal values, when every option has one (on it or its coding)."""
    ordinals = []
    for option in fhir_item.answerOption or []:
        coding = option.valueCoding
        extension = _extension(option, ORDINAL_VALUE) or (
            _extension(coding, ORDINAL_VALUE) if coding else None
        )
        if extension is None or extension.valueDecimal is None:
            return None
        ordinals.append(float(extension.valueDecimal))
    return ordinals


def _scale(fhir_item: Any) -> tuple[int, int] | None:
    ordinals = _ordinals(fhir_item)
    if not ordinals or not all(value.is_integer() for value in ordinals):
        return None
    low = int(ordinals[0])
    if ordinals != [float(value) for value in range(low, low + len(ordinals))]:
        return None
    return low, low + len(ordinals) - 1


def _choice_fields(fhir_item: Any, locale: str, where: str) -> dict[str, Any]:
    if scale := _scale(fhir_item):
        return {"type": "likert", "min": scale[0], "max": scale[1]}
    choices = []
    for index, option in enumerate(fhir_item.answerOption or []):
        coding = option.valueCoding
        if coding is None or coding.code is None:
            raise Unsupported(f"{where}.answerOption[{index}]", "only coded options load")
        tier = _extension(option, RISK_TIER_EXTENSION)
        label = _texts(coding.display or coding.code, coding.display__ext, locale)
        choices.append(
            {
                "key": coding.code,
                "label": label,
                "risk": tier.valueCoding.code if tier and tier.valueCoding else None,
            }
        )
    return {"type": "choice", "choices": choices}


def _slider_fields(fhir_item: Any, where: str) -> dict[str, Any]:
    for url, expected in ((MIN_VALUE, SLIDER_RANGE[0]), (MAX_VALUE, SLIDER_RANGE[1])):
        bound = _extension(fhir_item, url)
        if bound is not None and bound.valueInteger != expected:
            low, high = SLIDER_RANGE
            raise Unsupported(where, f"Kairos sliders run {low}-{high}")
    return {"type": "slider"}


def _item(fhir_item: Any, locale: str, where: str) -> Item:
    name = f"item '{fhir_item.linkId}'"
    if fhir_item.type == "integer":
        fields = _slider_fields(fhir_item, where)
    elif fhir_item.type == "choice" and not fhir_item.answerValueSet:
        fields = _choice_fields(fhir_item, locale, where)
    elif fhir_item.type == "boolean":
        fields = {"type": "boolean"}
    elif fhir_item.type in ("string", "text"):
        fields = {"type": "text"}
    else:
        kind = fhir_item.type + (" with an answerValueSet" if fhir_item.answerValueSet else "")
        raise Unsupported(
            where,
            f"{name}: Kairos cannot load a {kind} item "
            "(it loads integer sliders, choice and likert, boolean, string and text items)",
        )
    codes = {(code.system, code.code) for code in fhir_item.code or []}
    poles = [code for system, code in codes if system == POLE_SYSTEM]
    if len(poles) > 1 or not set(poles) <= set(Pole):
        raise Unsupported(where, f"{name}: one code of the twelve process poles at most")
    try:
        return Item.model_validate(
            {
                "key": fhir_item.linkId,
                "text": _texts(fhir_item.text or fhir_item.linkId, fhir_item.text__ext, locale),
                "required": bool(fhir_item.required),
                "anchors": _anchors(fhir_item, locale) if fields["type"] != "choice" else None,
                "pole": Pole(poles[0]) if poles else None,
                "risk": (FLAG_SYSTEM, RISK_FLAG) in codes,
                **fields,
            }
        )
    except ValidationError as error:
        first = error.errors()[0]
        detail = _path(first["loc"])
        raise Unsupported(
            where, f"{name}: {detail + ': ' if detail else ''}{first['msg']}"
        ) from None


def item_pack(questionnaire: FhirQuestionnaire, default_locale: str) -> ItemPack:
    """The questionnaire's items as an item pack: its name, its canonical URL (or what it
    derives from) as the source, its copyright as the licence."""
    locale = questionnaire.language or default_locale
    items = [
        _item(fhir_item, locale, f"item[{index}]")
        for index, fhir_item in enumerate(questionnaire.item or [])
    ]
    source = (
        f"{questionnaire.url}|{questionnaire.version}"
        if questionnaire.url and questionnaire.version
        else questionnaire.url or next(iter(questionnaire.derivedFrom or []), None)
    )
    if source is None:
        raise Unsupported("url", "an item pack needs its source: give url or derivedFrom")
    if not questionnaire.copyright:
        raise Unsupported("copyright", "an item pack needs its licence: give copyright")
    try:
        return ItemPack(
            name=questionnaire.name or questionnaire.title or "",
            source=source,
            licence=questionnaire.copyright,
            items=items,
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = {"name": "name", "source": "url", "licence": "copyright", "items": "item"}
        raise Unsupported(where.get(str(first["loc"][0]), "item"), first["msg"]) from None
