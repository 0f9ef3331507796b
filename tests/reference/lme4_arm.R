# Reference fits with lme4 and arm for tests/test_lme4_arm.py.
#
# Usage: Rscript lme4_arm.R data.csv fits.csv groups.csv
#
# data.csv has columns dataset, g, y (long format, any number of datasets). For every dataset:
#   lmer(y ~ 1 + (1 | g), REML = TRUE) with minqa's BOBYQA run to rhoend = 1e-12, and from it
#   REMLcrit(), fixef(), sigma, the random-effect SD, isSingular() and coef();
#   arm::bayesglm(y ~ 0 + g, prior.mean = mu^, prior.scale = tau^, prior.df = Inf,
#   scaled = FALSE) with the mixed model's mu^ and tau^ (skipped when tau^ = 0, where the
#   prior has zero scale), its coefficients, dispersion and convergence flag.
# fits.csv gets one row per dataset, groups.csv one row per (dataset, group).

suppressPackageStartupMessages({
  library(lme4)
  library(arm)
})

args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 3)
dat <- read.csv(args[1], colClasses = c(dataset = "integer", g = "character", y = "numeric"))

ctrl <- lmerControl(
  optimizer = "bobyqa",
  optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
  check.conv.singular = .makeCC(action = "ignore", tol = 1e-4),
  check.conv.grad = .makeCC(action = "ignore", tol = 2e-3),
  check.conv.hess = .makeCC(action = "ignore", tol = 1e-6)
)

fits <- list()
groups <- list()
for (d in sort(unique(dat$dataset))) {
  sub <- dat[dat$dataset == d, ]
  # keep the group order of the file (factor levels in order of appearance)
  sub$g <- factor(sub$g, levels = unique(sub$g))
  m <- lmer(y ~ 1 + (1 | g), data = sub, REML = TRUE, control = ctrl)
  mu <- unname(fixef(m)[1])
  sig <- sigma(m)
  tau <- unname(getME(m, "theta")[1]) * sig
  cf <- coef(m)$g
  blup <- cf[levels(sub$g), "(Intercept)"]
  arm_coef <- rep(NA_real_, nlevels(sub$g))
  arm_disp <- NA_real_
  arm_conv <- NA
  arm_iter <- NA_integer_
  if (tau > 0) {
    b <- suppressWarnings(bayesglm(
      y ~ 0 + g, data = sub, family = gaussian,
      prior.mean = mu, prior.scale = tau, prior.df = Inf, scaled = FALSE
    ))
    arm_coef <- unname(coef(b)[paste0("g", levels(sub$g))])
    arm_disp <- b$dispersion
    arm_conv <- b$converged
    arm_iter <- b$iter
  }
  fits[[length(fits) + 1]] <- data.frame(
    dataset = d, remlcrit = REMLcrit(m), mu = mu, tau2 = tau^2, sigma2 = sig^2,
    theta = unname(getME(m, "theta")[1]), singular = isSingular(m),
    arm_dispersion = arm_disp, arm_converged = arm_conv, arm_iter = arm_iter
  )
  groups[[length(groups) + 1]] <- data.frame(
    dataset = d, g = levels(sub$g), blup = blup, arm_coef = arm_coef
  )
}
write.csv(do.call(rbind, fits), args[2], row.names = FALSE)
write.csv(do.call(rbind, groups), args[3], row.names = FALSE)
