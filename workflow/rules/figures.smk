# Figures: the seed answer's illustration (one dataset, its figures 1 and 2) and the study's
# figures from the summary table. One script per figure; each writes a PNG (in the report) and
# a PDF. `snakemake --report results/report.html` collects figures, captions and tables.

FIGURES = res("figures")

# The seed example is fitted with the study's own settings (method, interval level, prior).
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
        data=res("seed/data.csv"),
        estimates=res("seed/estimates.csv"),
        fit=res("seed/fit.json"),
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


rule fig_seed_shrinkage:
    input:
        data=rules.seed_example.output.data,
        estimates=rules.seed_example.output.estimates,
        fit=rules.seed_example.output.fit,
        code=code("fig_seed_shrinkage.py"),
    output:
        png=report(
            f"{FIGURES}/seed_shrinkage.png",
            caption="../report/seed_shrinkage.rst",
            category="1. Seed example",
        ),
        pdf=f"{FIGURES}/seed_shrinkage.pdf",
    log:
        res("logs/figures/seed_shrinkage.log"),
    benchmark:
        res("benchmarks/figures/seed_shrinkage.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_seed_shrinkage.py"


rule fig_seed_blup_bayesglm:
    input:
        estimates=rules.seed_example.output.estimates,
        fit=rules.seed_example.output.fit,
        code=code("fig_seed_blup_bayesglm.py"),
    output:
        png=report(
            f"{FIGURES}/seed_blup_bayesglm.png",
            caption="../report/seed_blup_bayesglm.rst",
            category="1. Seed example",
        ),
        pdf=f"{FIGURES}/seed_blup_bayesglm.pdf",
    log:
        res("logs/figures/seed_blup_bayesglm.log"),
    benchmark:
        res("benchmarks/figures/seed_blup_bayesglm.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_seed_blup_bayesglm.py"


rule fig_relmse_by_n:
    input:
        summary=rules.aggregate.output.summary,
        code=code("fig_relmse_by_n.py"),
    output:
        png=report(
            f"{FIGURES}/relmse_by_n.png",
            caption="../report/relmse_by_n.rst",
            category="2. Accuracy",
        ),
        pdf=f"{FIGURES}/relmse_by_n.pdf",
    log:
        res("logs/figures/relmse_by_n.log"),
    benchmark:
        res("benchmarks/figures/relmse_by_n.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_relmse_by_n.py"


rule fig_nested_loop:
    input:
        summary=rules.aggregate.output.summary,
        code=code("fig_nested_loop.py"),
    output:
        png=report(
            f"{FIGURES}/nested_loop.png",
            caption="../report/nested_loop.rst",
            category="2. Accuracy",
        ),
        pdf=f"{FIGURES}/nested_loop.pdf",
    log:
        res("logs/figures/nested_loop.log"),
    benchmark:
        res("benchmarks/figures/nested_loop.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_nested_loop.py"


rule fig_group_size_mse:
    input:
        summary=rules.aggregate.output.summary,
        code=code("fig_group_size_mse.py"),
    output:
        png=report(
            f"{FIGURES}/group_size_mse.png",
            caption="../report/group_size_mse.rst",
            category="2. Accuracy",
        ),
        pdf=f"{FIGURES}/group_size_mse.pdf",
    log:
        res("logs/figures/group_size_mse.log"),
    benchmark:
        res("benchmarks/figures/group_size_mse.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_group_size_mse.py"


rule fig_spread:
    input:
        summary=rules.aggregate.output.summary,
        code=code("fig_spread.py"),
    output:
        png=report(
            f"{FIGURES}/spread.png",
            caption="../report/spread.rst",
            category="3. Spread, boundary fits, coverage",
        ),
        pdf=f"{FIGURES}/spread.pdf",
    log:
        res("logs/figures/spread.log"),
    benchmark:
        res("benchmarks/figures/spread.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_spread.py"


rule fig_boundary:
    input:
        summary=rules.aggregate.output.summary,
        code=code("fig_boundary.py"),
    output:
        png=report(
            f"{FIGURES}/boundary.png",
            caption="../report/boundary.rst",
            category="3. Spread, boundary fits, coverage",
        ),
        pdf=f"{FIGURES}/boundary.pdf",
    log:
        res("logs/figures/boundary.log"),
    benchmark:
        res("benchmarks/figures/boundary.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_boundary.py"


rule fig_coverage:
    input:
        summary=rules.aggregate.output.summary,
        code=code("fig_coverage.py"),
    output:
        png=report(
            f"{FIGURES}/coverage.png",
            caption="../report/coverage.rst",
            category="3. Spread, boundary fits, coverage",
        ),
        pdf=f"{FIGURES}/coverage.pdf",
    params:
        level=float(config["level"]),
    log:
        res("logs/figures/coverage.log"),
    benchmark:
        res("benchmarks/figures/coverage.tsv")
    conda:
        ENV
    script:
        "../scripts/fig_coverage.py"


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
FIGURE_TARGETS = [
    path
    for r in (
        rules.fig_seed_shrinkage,
        rules.fig_seed_blup_bayesglm,
        rules.fig_relmse_by_n,
        rules.fig_nested_loop,
        rules.fig_group_size_mse,
        rules.fig_spread,
        rules.fig_boundary,
        rules.fig_coverage,
    )
    for path in (r.output.png, r.output.pdf)
] + list(rules.report_tables.output)
