# Figures: the seed answer's illustration (one dataset, its figures 1 and 2) and the study's
# figures from the summary table. Each rule writes a PNG (in the report) and a PDF.
# `snakemake --report results/report.html` collects figures, captions and tables.

FIGURES = res("figures")

# The seed example (its dataset and the answer's figures 1 and 2) only when the config has a
# seed_example block; it is fitted with the study's own settings (method, interval level, prior).
SEED_EXAMPLE = STUDY.seed_example is not None

if SEED_EXAMPLE:
    SEED_CELL = {
        "sizes": list(STUDY.seed_cell.sizes),
        "sigma": float(STUDY.seed_cell.sigma),
        "tau": float(STUDY.seed_cell.tau),
        "mu": float(STUDY.seed_cell.mu),
    }
    SEED_SETTINGS = {k: fit_settings(STUDY.config)[k] for k in ("method", "level", "prior")}
    # How its seed is chosen: the given seed, or the closest fit to a target among candidate seeds.
    SEED_CHOICE = seed_choice(STUDY.config["seed_example"])


    rule seed_example:
        input:
            code=code("seed_example.py"),
        output:
            # each with its checksum record (seed/.checksums/<name>.sha256), checked by its readers
            **sealed(
                data=res("seed/data.csv"),
                estimates=res("seed/estimates.csv"),
                fit=res("seed/fit.json"),
            ),
        params:
            cell=SEED_CELL,
            choice=SEED_CHOICE,
            settings=SEED_SETTINGS,
        log:
            res("logs/seed_example.log"),
        benchmark:
            res("benchmarks/seed_example.tsv")
        conda:
            ENV
        script:
            "../scripts/seed_example.py"


    # One rule per figure of the seed example (shrinkstudy.report.figures.catalog.SEED_FIGURES): its
    # inputs among the seed example's files, its caption file and report category. One script
    # draws each, finding its entry by the rule's name.
    for _fig in SEED_FIGURES:

        rule:
            name:
                _fig.rule
            input:
                **{key: rules.seed_example.output[key] for key in _fig.inputs},
                code=code("fig_seed.py"),
            output:
                png=report(
                    _fig.outputs(FIGURES)["png"],
                    caption=f"../report/{_fig.name}.rst",
                    category=_fig.category,
                ),
                pdf=_fig.outputs(FIGURES)["pdf"],
            params:
                # the seed example's design in words, and whether it is balanced (its caption)
                design=design_phrase(STUDY.seed_cell.sizes),
                balanced=STUDY.seed_cell.balanced,
            log:
                res(f"logs/figures/{_fig.name}.log"),
            benchmark:
                res(f"benchmarks/figures/{_fig.name}.tsv")
            conda:
                ENV
            script:
                "../scripts/fig_seed.py"


# The study's figures from the summary table (shrinkstudy.report.figures.catalog.SUMMARY_FIGURES, each
# declared once there: category, options, outputs), drawn by fig_summary.py with
# shrinkstudy.report.figures.plot_<name> in one job (extra params are its keywords). A figure whose
# rows, options and code are unchanged is copied from its cache (results/figures/.cache), not
# redrawn (shrinkstudy.report.figures.cache): after a change that adds a cell, only the figures that
# plot it are drawn.
SUMMARY_FIGURES = {
    fig.name: {"category": fig.category, "params": fig.option_values(config)} for fig in CATALOG_SUMMARY_FIGURES
}


# Each figure's caption in the report, written from the study (shrinkstudy.report.captions: the cells and
# estimators it draws, and those it leaves out with the reason); workflow/report/<figure>.rst
# prints it.
FIGURE_CAPTIONS = figure_captions(STUDY)


rule summary_figures:
    input:
        summary=rules.aggregate.output.summary,
        code=code("fig_summary.py"),
    output:
        **figure_outputs(SUMMARY_FIGURES, FIGURES),
    params:
        figures={fig: spec.get("params", {}) for fig, spec in SUMMARY_FIGURES.items()},
        captions=FIGURE_CAPTIONS,
    # the longest job after the summary: started first, beside the short report jobs
    priority: 10
    log:
        res("logs/figures/summary_figures.log"),
    benchmark:
        res("benchmarks/figures/summary_figures.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_summary.py"


# The report shows images and HTML inline: the tables go in as HTML pages.
rule report_tables:
    input:
        summary=rules.aggregate.output.summary,
        headline=rules.aggregate.output.headline,
        replication=rules.aggregate.output.replication,
        code=code("report_tables.py"),
    output:
        summary=report(
            res("report/summary.html"),
            caption="../report/summary_table.rst",
            category="4. Tables",
        ),
        headline=report(
            res("report/headline.html"),
            caption="../report/headline_table.rst",
            category="4. Tables",
        ),
        replication=report(
            res("report/replication.html"),
            caption="../report/replication_table.rst",
            category="4. Tables",
        ),
    log:
        res("logs/figures/report_tables.log"),
    benchmark:
        res("benchmarks/figures/report_tables.tsv")
    conda:
        ENV
    script:
        "../scripts/report_tables.py"


# Every figure (PNG and PDF) and the report's table pages; rule all builds them.
FIGURE_TARGETS = (
    [path for fig in SEED_FIGURES if SEED_EXAMPLE for path in fig.outputs(FIGURES).values()]
    + list(rules.summary_figures.output)
    + list(rules.report_tables.output)
)
# The seed example's files (none without a seed_example block)
SEED_TARGETS = list(rules.seed_example.output) if SEED_EXAMPLE else []
