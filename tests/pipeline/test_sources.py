"""Sources that cannot double or vanish: files by real path, symlink loops refused, every field
mapping checked before work, text templates for structured rows, and repetition (``epochs``)."""

import gzip
import json
import os

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apertus_compliance.pipeline.cli import summary_table
from apertus_compliance.pipeline.lock import conservation_errors
from apertus_compliance.pipeline.rebuild import JSONL_SAMPLE_LINES, _check_input, plan_sources
from apertus_compliance.pipeline.recipe import RecipeError, compiled_template, load_recipe
from apertus_compliance.pipeline.tokenizer import load_tokenizer


def source(**overrides) -> dict:
    return {
        "id": "web",
        "location": "sources/**/*.parquet",
        "format": "parquet",
        "target_tokens": 10**9,
        "pii": False,
    } | overrides


def read_rows(run_dir, pattern: str) -> list[dict]:
    return [row for path in sorted(run_dir.glob(pattern)) for row in pq.read_table(path).to_pylist()]


def write_jsonl(kit, name: str, rows: list) -> os.PathLike:
    path = kit.root / "sources" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((row if isinstance(row, bytes) else json.dumps(row).encode()) + b"\n" for row in rows)
    path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return path


# --------------------------------------------------------------------------------------------
# files by real path


def test_a_file_reached_through_symlinks_is_read_once(kit):
    rows = kit.web_rows(40)
    kit.write_parquet("v1/part-0.parquet", rows[:20])
    kit.write_parquet("v1/part-1.parquet", rows[20:])
    (kit.root / "sources" / "latest").symlink_to("v1", target_is_directory=True)  # the doubling
    (kit.root / "sources" / "v1" / "alias.parquet").symlink_to("part-0.parquet")  # one file, two names
    recipe = kit.write_recipe([source()])

    [plan] = plan_sources(load_recipe(recipe))
    assert plan.files == ["part-0.parquet", "part-1.parquet"]
    assert plan.data_folder == str((kit.root / "sources" / "v1").resolve())
    lock = kit.run(recipe)
    documents = lock["sources"]["web"]["documents"]
    assert documents["read"] == 40 == documents["kept"] + sum(documents["removed"].values())
    assert [item["path"] for item in lock["sources"]["web"]["inputs"]] == [
        "sources/v1/part-0.parquet",
        "sources/v1/part-1.parquet",
    ]


def test_a_symlink_loop_is_refused_naming_the_link(kit):
    kit.write_parquet("data/a.parquet", kit.web_rows(5))
    loop = kit.root / "sources" / "data" / "again"
    loop.symlink_to("..", target_is_directory=True)
    # one loop only: glob alone would still finish (41 copies of a.parquet, the count) and this
    # test fail instead of hang; two loops side by side would give glob 2**40 paths to walk
    with pytest.raises(RecipeError) as raised:
        kit.run(kit.write_recipe([source()]))
    assert str(raised.value).startswith(
        f"source web: {loop} is a symlink loop (it points to {(kit.root / 'sources').resolve()}, which contains it)"
    )
    assert str(raised.value).endswith("remove the link")
    assert not (kit.root / "run").exists()  # before any work

    # without ** nothing is walked through the links: the files are read, once
    [plan] = plan_sources(load_recipe(kit.write_recipe([source(location="sources/data/*.parquet")], "flat.yaml")))
    assert plan.files == ["a.parquet"]


def test_a_listed_input_twice_breaks_conservation():
    lock = {
        "sources": {
            "web": {
                "inputs": [{"path": "sources/a.parquet"}, {"path": "sources/a.parquet"}],
                "documents": {"read": 10, "kept": 10, "removed": {}},
            }
        }
    }
    assert conservation_errors(lock) == ["web: input sources/a.parquet listed 2 times"]


# --------------------------------------------------------------------------------------------
# every mapping checked before any work


def test_a_jsonl_field_missing_from_the_sample_stops_before_any_work(kit):
    path = write_jsonl(kit, "docs.jsonl.gz", [{"body": f"text {n}", "link": "https://a.example/"} for n in range(5)])
    recipe = kit.write_recipe([source(location="sources/*.jsonl.gz", format="jsonl")])
    with pytest.raises(RecipeError) as raised:
        kit.run(recipe)
    message = str(raised.value)
    assert f"source web: {path}: no field for fields.text = 'text', fields.id = 'id', fields.url = 'url'" in message
    assert "in its first 5 row(s) (fields present: body, link)" in message
    assert not (kit.root / "run").exists()


def test_jsonl_mapping_is_checked_on_a_sample_not_on_every_row(kit):
    jsonl = source(location="sources/*.jsonl", format="jsonl", fields={"date": None, "language": None})
    rows = [b"", b"{broken", b'["a list"]'] + [
        {"id": str(n), "url": "https://a.example/", "text": "x"} for n in range(3)
    ]
    write_jsonl(kit, "good.jsonl", rows)
    [plan] = plan_sources(load_recipe(kit.write_recipe([jsonl])))
    assert plan.files == ["good.jsonl"]  # bad lines are the reader's to count, the fields are there

    late = [{"id": str(n), "url": "https://a.example/", "body": "x"} for n in range(JSONL_SAMPLE_LINES)]
    write_jsonl(kit, "late.jsonl", late + [{"id": "z", "url": "https://a.example/", "text": "too late"}])
    with pytest.raises(
        RecipeError, match=rf"late.jsonl: no field for fields.text = 'text' in its first {JSONL_SAMPLE_LINES} "
    ):
        plan_sources(load_recipe(kit.write_recipe([jsonl])))

    write_jsonl(kit, "late.jsonl", [b"not json", b"[1, 2]"])
    with pytest.raises(RecipeError, match=r"late.jsonl: not JSONL \(no JSON object in its first 2 non-empty line"):
        plan_sources(load_recipe(kit.write_recipe([jsonl])))

    (kit.root / "sources" / "late.jsonl").unlink()
    (kit.root / "sources" / "cut.jsonl.gz").write_bytes(gzip.compress(b'{"text": "x"}\n' * 50)[:40])
    with pytest.raises(RecipeError, match=r"cut.jsonl.gz: not readable as JSONL \(EOFError"):
        plan_sources(load_recipe(kit.write_recipe([jsonl | {"location": "sources/*.jsonl*"}])))


def test_a_hub_source_is_checked_on_its_first_file_through_its_filesystem(kit):
    """Hub sources are checked like local ones (``_plan_hub_source`` passes ``HfFileSystem``); here an
    fsspec memory filesystem stands in for the hub, which a test cannot reach."""
    memory = fsspec.filesystem("memory")
    with memory.open("/test-sources-hub/de-en/train.parquet", "wb") as handle:
        pq.write_table(pa.Table.from_pylist([{"translation": {"de": "Ja.", "en": "Yes."}}], schema=EUROPARL), handle)
    with memory.open("/test-sources-hub/flan.jsonl", "wb") as handle:
        handle.write(b'{"inputs": "Q?", "answer": "A."}\n')
    phase5 = {entry.id: entry for entry in load_recipe("phase5").recipe.sources}
    _check_input(phase5["parallel"], "/test-sources-hub/de-en/train.parquet", memory)  # the mapping fits: no error
    with pytest.raises(
        RecipeError,
        match=r"/test-sources-hub/flan.jsonl: no field for text_template field 'targets' in its first 1 row",
    ):
        _check_input(phase5["task-data"], "/test-sources-hub/flan.jsonl", memory)
    with pytest.raises(
        RecipeError,
        match=r"source starcoder: /test-sources-hub/de-en/train.parquet: no column for fields.text = 'content'",
    ):
        _check_input(phase5["starcoder"], "/test-sources-hub/de-en/train.parquet", memory)
    with pytest.raises(RecipeError, match=r"/test-sources-hub/absent.parquet: cannot read it"):
        _check_input(phase5["starcoder"], "/test-sources-hub/absent.parquet", memory)
    memory.rm("/test-sources-hub", recursive=True)  # the memory filesystem is one per process


# --------------------------------------------------------------------------------------------
# text templates


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"text_template": "{{ title "}, "source web: text_template: not a valid Jinja2 template"),
        ({"text_template": "always the same"}, "source web: text_template: 'always the same' uses no field of the row"),
        ({"text_template": "{{ title }}", "fields": {"text": "body"}}, "give fields.text or text_template, not both"),
        ({"text_template": "{{ title }}", "format": "warc"}, "fields and text_template cannot be set for warc"),
        ({"epochs": 0}, "epochs must be at least 1, got 0"),
    ],
)
def test_templates_and_epochs_are_checked_when_the_recipe_loads(kit, overrides, message):
    path = kit.write_recipe([source(**overrides)])
    with pytest.raises(RecipeError) as raised:
        load_recipe(path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_a_template_field_missing_from_the_columns_stops_before_any_work(kit):
    kit.write_parquet("a.parquet", [{"title": "T", "id": "1", "url": "https://a.example/"}])
    fields = {"date": None, "language": None}
    template = "{{ title }}{% if note is defined %} ({{ note }}){% endif %}\n\n{{ body }}"  # note: optional
    recipe = kit.write_recipe([source(text_template=template, fields=fields)])
    with pytest.raises(
        RecipeError, match=r"a.parquet: no column for text_template field 'body' \(columns: title, id, url\)"
    ):
        plan_sources(load_recipe(recipe))


EUROPARL = pa.schema(
    [
        ("translation", pa.struct([("de", pa.string()), ("en", pa.string())])),
    ]
)


def test_europarl_rows_are_formatted_by_the_phase5_template(kit):
    """Europarl's rows are a mapping per language pair; the phase-5 template writes one line per language."""
    phase5 = {entry.id: entry for entry in load_recipe("phase5").recipe.sources}
    template = phase5["parallel"].text_template
    pairs = [{"de": f"Satz {n}.", "en": f"Sentence {n}."} for n in range(30)]
    kit.write_parquet(
        "de-en/train.parquet", [{"translation": pair} for pair in pairs] + [{"translation": None}], EUROPARL
    )
    fr_it = pa.schema([("translation", pa.struct([("fr", pa.string()), ("it", pa.string())]))])
    kit.write_parquet("fr-it/train.parquet", [{"translation": {"it": "Frase.", "fr": "Phrase."}}], fr_it)
    fields = {"id": None, "url": None, "date": None, "language": None}
    lock = kit.run(kit.write_recipe([source(id="parallel", text_template=template, fields=fields, optout=False)]))

    kept = {row["text"] for row in read_rows(kit.root / "run", "mixture/parallel/*.parquet")}
    assert kept == {f"Satz {n}.\nSentence {n}." for n in range(30)} | {"Phrase.\nFrase."}
    [invalid] = read_rows(kit.root / "run", "removed/invalid/parallel/*.parquet")
    assert json.loads(invalid["detail"])["invalid"] == "text_template: 'translation' is undefined"  # null = missing
    assert json.loads(invalid["text"]) == {"translation": None}  # the row as read is kept as the evidence
    assert lock["sources"]["parallel"]["tokens"]["kept"] == sum(-(-len(text.encode()) // 4) for text in kept)


def test_a_jsonl_row_without_a_templated_field_is_invalid_and_names_it(kit):
    rows = [{"title": f"Title {n}", "body": f"Body {n}.", "url": f"https://a.example/{n}"} for n in range(10)]
    rows[3] = {"title": "No body", "url": "https://a.example/3"}
    rows[4] = {"title": "Null body", "body": None, "url": "https://a.example/4"}
    write_jsonl(kit, "articles.jsonl", rows + [b"{not json"])
    template = "{{ title }}\n\n{{ body }}{% if note is defined %}\n({{ note }}){% endif %}"
    fields = {"id": None, "date": None, "language": None}
    jsonl = source(location="sources/*.jsonl", format="jsonl", text_template=template, fields=fields, optout=False)
    lock = kit.run(kit.write_recipe([jsonl]))
    assert conservation_errors(lock) == [] and lock["sources"]["web"]["documents"]["read"] == 11
    invalid = {row["id"]: row for row in read_rows(kit.root / "run", "removed/invalid/web/*.parquet")}
    assert json.loads(invalid["web/articles.jsonl#3"]["detail"])["invalid"] == "text_template: 'body' is undefined"
    assert json.loads(invalid["web/articles.jsonl#3"]["text"]) == rows[3]
    assert json.loads(invalid["web/articles.jsonl#4"]["detail"])["invalid"] == "text_template: 'body' is undefined"
    assert invalid["web/articles.jsonl#10"]["text"] == "{not json"  # a bad line keeps its text, as without a template
    kept = {row["text"] for row in read_rows(kit.root / "run", "mixture/web/*.parquet")}
    assert len(kept) == 8 and "Title 0\n\nBody 0." in kept


def test_binary_template_columns_are_decoded_and_bad_bytes_keep_the_row(kit):
    schema = pa.schema([("title", pa.binary()), ("body", pa.string()), ("id", pa.string())])
    rows = [
        {"title": b"Gr\xc3\xbc\xc3\x9fe", "body": "Hallo.", "id": "ok"},
        {"title": b"\xff", "body": "B.", "id": "bad"},
    ]
    kit.write_parquet("a.parquet", rows, schema)
    fields = {"url": None, "date": None, "language": None}
    recipe = kit.write_recipe([source(text_template="{{ title }}: {{ body }}", fields=fields, optout=False)])
    kit.run(recipe)
    assert [row["text"] for row in read_rows(kit.root / "run", "mixture/web/*.parquet")] == ["Grüße: Hallo."]
    [bad] = read_rows(kit.root / "run", "removed/invalid/web/*.parquet")
    assert json.loads(bad["detail"])["invalid"].startswith("non-utf8 text")
    assert json.loads(bad["text"]) == {"title": "\ufffd", "body": "B.", "id": "bad"}


def test_templates_run_in_a_sandbox():
    with pytest.raises(Exception, match="unsafe|not safely callable|access to attribute"):
        compiled_template("{{ title.__class__.__mro__ }}").render(title="x")
    with pytest.raises(Exception, match="unsafe|not safely callable|modify"):
        compiled_template("{{ tags.append('x') }}").render(tags=[])


# --------------------------------------------------------------------------------------------
# repetition


def write_parts(kit) -> None:
    rows = kit.web_rows(600, seed=11)
    for part in range(3):
        kit.write_parquet(f"part-{part}.parquet", rows[part::3])


def test_epochs_count_toward_the_budget_and_the_lock_counts_repetition(kit):
    write_parts(kit)
    twice = kit.write_recipe([source(target_tokens=20_000, epochs=2, optout=False)], "twice.yaml")
    once = kit.write_recipe([source(target_tokens=10_000, optout=False)], "once.yaml")
    one_worker, single = kit.run(twice, "one"), kit.run(once, "single")

    entry = one_worker["sources"]["web"]
    kept = sorted(read_rows(kit.root / "one", "mixture/web/*.parquet"), key=lambda row: (row["sample_key"], row["id"]))
    tokens = sum(row["tokens"] for row in kept)
    assert entry["budget"]["binding"] and entry["epochs"] == 2
    assert 2 * tokens >= 20_000 > 2 * (tokens - kept[-1]["tokens"])  # exact, counting both epochs
    assert entry["tokens"] | {"removed": None} == {
        "target": 20_000,
        "kept": tokens,
        "kept_with_repetition": 2 * tokens,
        "removed": None,
    }
    assert one_worker["totals"] == {
        "documents_kept": len(kept),
        "tokens_kept": tokens,
        "tokens_kept_with_repetition": 2 * tokens,
    }
    assert len({row["id"] for row in kept}) == len(kept)  # the mixture holds each document once
    # the same documents as half the budget seen once; the same bytes on one worker or two
    assert {row["id"] for row in read_rows(kit.root / "single", "mixture/web/*.parquet")} == {row["id"] for row in kept}
    assert single["sources"]["web"]["epochs"] == 1 and single["totals"]["tokens_kept_with_repetition"] == tokens
    assert f"2 x {tokens:,} = {2 * tokens:,} / 20,000" in summary_table(one_worker)
    assert f" {tokens:,} / 10,000" in summary_table(single)


@pytest.mark.slow
def test_templates_and_epochs_give_the_same_bytes_on_one_and_two_workers(kit, hashes):
    write_parts(kit)
    template = "{{ text }}{% if language is defined %}\n[{{ language }}]{% endif %}"
    fields = {"date": None, "language": None}
    recipe = kit.write_recipe([source(target_tokens=20_000, epochs=2, text_template=template, fields=fields)])
    one_worker, two_workers = kit.run(recipe, "one"), kit.run(recipe, "two", workers=2)
    assert one_worker["sources"]["web"]["budget"]["binding"]
    assert hashes(kit.root / "one") == hashes(kit.root / "two") and len(hashes(kit.root / "one")) >= 6
    assert one_worker["sources"] == two_workers["sources"] and one_worker["totals"] == two_workers["totals"]
    assert all(row["text"].endswith("\n[en]") for row in read_rows(kit.root / "two", "mixture/web/*.parquet"))


def test_the_phase5_recipe_formats_europarl_and_repeats_starcoder():
    loaded = load_recipe("phase5")  # validation: every source, template and budget checked at load
    sources = {entry.id: entry for entry in loaded.recipe.sources}
    assert sources["starcoder"].epochs == 2 and sources["starcoder"].target_tokens == 182 * 10**9
    assert sources["starcoder"].unique_target_tokens == 91 * 10**9
    assert sources["task-data"].epochs == 3 and sources["task-data"].target_tokens == 3 * 10**9
    assert sum(entry.epochs > 1 for entry in sources.values()) == 2
    assert sum(entry.target_tokens for entry in sources.values()) == loaded.recipe.total_tokens == 2_978 * 10**9
    parallel = sources["parallel"]
    assert parallel.text_columns == ["translation"] and "text" not in parallel.fields.model_fields_set
    row = {"translation": {"en": "Resumption of the session", "de": "Wiederaufnahme der Sitzungsperiode"}}
    text = compiled_template(parallel.text_template).render(row)
    assert text == "Wiederaufnahme der Sitzungsperiode\nResumption of the session"
    one_sided = compiled_template(parallel.text_template).render({"translation": {"de": None, "en": "Agenda"}})
    assert one_sided == "Agenda"  # a language missing from a pair is left out, never written as "None"
    # the recipe's tokenizer is the released Apertus one, and it loads here (what the rebuild checks first)
    released = load_tokenizer(loaded.recipe.tokenizer, loaded.folder)
    assert loaded.recipe.tokenizer == "apertus" and released.get_vocab_size() == 131_072
    assert len(released.encode(text, add_special_tokens=False).ids) == 14
    task = sources["task-data"]
    assert (task.format, task.text_columns) == ("jsonl", ["inputs", "targets"])
    assert compiled_template(task.text_template).render(inputs="Q?", targets="A.") == "Q?\n\nA."
