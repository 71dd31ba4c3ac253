from __future__ import annotations

from xiaoer.bench import run_bench


async def test_bench_measures_overhead_and_tools_side_by_side() -> None:
    result = await run_bench(
        None, concurrency=(1, 4), retrieval_sizes=(1000,), catalog_added=(0, 100), console=(4, 2)
    )
    overhead = result["turn_overhead"]
    for n in (1, 4):
        assert overhead[f"xiaoer_turn_minus_llm_c{n}"]["p50_ms"] > 0
        assert overhead[f"echo_c{n}"]["p50_ms"] > 0
        assert overhead[f"ratio_p50_c{n}"] > 0
        # CPU per turn and per echo, and their ratio as computed from them
        mine, base = overhead[f"xiaoer_turn_cpu_ms_c{n}"], overhead[f"echo_cpu_ms_c{n}"]
        assert mine > base > 0
        assert overhead[f"ratio_cpu_c{n}"] == round(mine / base, 1)
    assert result["tool_latency"]["search_products"]["p95_ms"] > 0
    # the lookup and the answer, and the understanding step unless the tests read by keywords
    assert overhead["llm_calls_per_turn"] in (2, 3)
    assert "model" not in result
    knowledge = result["knowledge_retrieval"]
    assert knowledge["demo_shop_hybrid"]["chunks"] > 100
    assert knowledge["demo_shop_hybrid"]["p95_ms"] >= knowledge["demo_shop_hybrid"]["p50_ms"] > 0
    assert knowledge["synthetic"]["sizes"]["1000"]["hybrid"]["p50_ms"] > 0
    assert knowledge["synthetic"]["sizes"]["1000"]["bm25_load_s"] >= 0
    assert knowledge["demo_shop_hybrid"]["index_built_ms"] > 0
    assert knowledge["demo_shop_hybrid"]["index_loaded_ms"] > 0
    catalog = result["catalog_search"]
    assert list(catalog) == ["44", "144"] and catalog["144"]["skus"] > catalog["44"]["skus"]
    for size in catalog.values():
        assert size["every_sku_read_ms"] > 0 and size["search_later_ms"] > 0 and size["ratio"] > 0
        assert size["product_named_prepared_per_question_ms"] > size["product_named_ms"] > 0
    pages = result["console_render"]
    assert pages["conversations"] == 4
    for page in (
        "/console/stride/",
        "/console/stride/conversations/<id>",
        "/console/stride/inspection",
    ):
        assert pages[page]["p95_ms"] >= pages[page]["p50_ms"] > 0
