# Reference values from R `survey` (Lumley) for tests/sampling/test_estimation_*.py.
#
# Run from this folder:  Rscript reference.R
# It writes the input CSVs (R's own api data and a synthetic satisfaction
# survey) and reference_values.csv (case, quantity, domain, value) with 17
# significant digits.  The Python tests read these files and never need R.
suppressMessages(library(survey))
options(survey.lonely.psu = "fail")
data(api)

out <- list()
put <- function(case, quantity, domain, value) {
  out[[length(out) + 1]] <<- data.frame(case = case, quantity = quantity,
    domain = as.character(domain), value = sprintf("%.17g", as.numeric(value)))
}
put_stat <- function(case, stat, df, domain = "all") {
  put(case, "estimate", domain, coef(stat))
  put(case, "se", domain, SE(stat))
  ci <- confint(stat, df = df)
  put(case, "ci_low", domain, ci[, 1])
  put(case, "ci_high", domain, ci[, 2])
  if (!is.null(attr(stat, "deff"))) put(case, "deff", domain, diag(as.matrix(attr(stat, "deff"))))
}
put_by <- function(case, result, df) {
  domain <- apply(result[, attr(result, "svyby")$margins, drop = FALSE], 1, paste, collapse = "|")
  put(case, "estimate", domain, coef(result))
  put(case, "se", domain, SE(result))
  ci <- confint(result, df = df)
  put(case, "ci_low", domain, ci[, 1])
  put(case, "ci_high", domain, ci[, 2])
  if (!is.null(attr(result, "svyby")$deffs) && attr(result, "svyby")$deffs)
    put(case, "deff", domain, deff(result))
}

write.csv(apistrat[, c("snum", "stype", "fpc", "pw", "api00", "api99", "enroll", "sch.wide", "awards")],
          "apistrat.csv", row.names = FALSE)
write.csv(apiclus1[, c("snum", "dnum", "stype", "fpc", "pw", "api00", "api99", "enroll", "sch.wide")],
          "apiclus1.csv", row.names = FALSE)

# --- apistrat: stratified SRSWOR with fpc --------------------------------
strat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
df <- degf(strat)
put("apistrat", "df", "all", df)
put_stat("apistrat_mean_api00", svymean(~api00, strat, deff = TRUE), df)
put_stat("apistrat_total_enroll", svytotal(~enroll, strat, deff = TRUE), df)
r <- svyratio(~api00, ~api99, strat)
put("apistrat_ratio", "estimate", "all", coef(r))
put("apistrat_ratio", "se", "all", SE(r))
put_by("apistrat_mean_by_stype", svyby(~api00, ~stype, strat, svymean, deff = TRUE), df)
put_by("apistrat_mean_by_stype_awards", svyby(~api00, ~stype + awards, strat, svymean, deff = TRUE), df)
put_by("apistrat_total_by_stype", svyby(~enroll, ~stype, strat, svytotal, deff = TRUE), df)
rb <- svyby(~api00, ~stype, strat, svyratio, denominator = ~api99)
put("apistrat_ratio_by_stype", "estimate", rb$stype, coef(rb))
put("apistrat_ratio_by_stype", "se", rb$stype, SE(rb))
strat <- update(strat, yes = as.numeric(sch.wide == "Yes"))
for (m in c("logit", "beta", "mean")) {
  p <- svyciprop(~yes, strat, method = m, df = df)
  put(paste0("apistrat_prop_", m), "estimate", "all", coef(p))
  put(paste0("apistrat_prop_", m), "se", "all", SE(p))
  put(paste0("apistrat_prop_", m), "ci_low", "all", confint(p)[1])
  put(paste0("apistrat_prop_", m), "ci_high", "all", confint(p)[2])
  for (s in c("E", "H", "M")) {
    sub <- subset(strat, stype == s)
    p <- svyciprop(~yes, sub, method = m, df = df)
    put(paste0("apistrat_prop_", m, "_by_stype"), "estimate", s, coef(p))
    put(paste0("apistrat_prop_", m, "_by_stype"), "ci_low", s, confint(p)[1])
    put(paste0("apistrat_prop_", m, "_by_stype"), "ci_high", s, confint(p)[2])
    put(paste0("apistrat_prop_", m, "_by_stype"), "n", s, nrow(sub))
  }
}
jkn <- as.svrepdesign(strat, type = "JKn")
put_stat("apistrat_jkn_mean_api00", svymean(~api00, jkn), Inf)
b <- svyby(~api00, ~stype, jkn, svymean)
put("apistrat_jkn_mean_by_stype", "estimate", b$stype, coef(b))
put("apistrat_jkn_mean_by_stype", "se", b$stype, SE(b))
put_stat("apistrat_jkn_total_enroll", svytotal(~enroll, jkn), Inf)

# --- apiclus1: one-stage cluster sample of districts with fpc -------------
clus <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
df <- degf(clus)
put("apiclus1", "df", "all", df)
put_stat("apiclus1_mean_api00", svymean(~api00, clus, deff = TRUE), df)
put_stat("apiclus1_total_enroll", svytotal(~enroll, clus, deff = TRUE), df)
put_by("apiclus1_mean_by_stype", svyby(~api00, ~stype, clus, svymean, deff = TRUE), df)
r <- svyratio(~api00, ~api99, clus)
put("apiclus1_ratio", "estimate", "all", coef(r))
put("apiclus1_ratio", "se", "all", SE(r))
jk1 <- as.svrepdesign(clus, type = "JK1")
put_stat("apiclus1_jk1_mean_api00", svymean(~api00, jk1), Inf)
b <- svyby(~api00, ~stype, jk1, svymean)
put("apiclus1_jk1_mean_by_stype", "estimate", b$stype, coef(b))
put("apiclus1_jk1_mean_by_stype", "se", b$stype, SE(b))
clus_nofpc <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1)
put_stat("apiclus1_nofpc_mean_api00", svymean(~api00, clus_nofpc, deff = TRUE), degf(clus_nofpc))

# --- synthetic stratified satisfaction survey ------------------------------
set.seed(20240501)
H <- 5
Nh <- c(1200, 3400, 800, 5000, 2600)
nh <- c(40, 55, 30, 70, 45)
resp <- do.call(rbind, lapply(1:H, function(h) data.frame(
  respondent = sprintf("r%d_%02d", 1:nh[h], h), stratum = paste0("s", h), N = Nh[h],
  weight = Nh[h] / nh[h],
  sex = sample(c("F", "M"), nh[h], TRUE),
  age = sample(c("18-34", "35-59", "60+"), nh[h], TRUE, prob = c(0.3, 0.45, 0.25)))))
points <- c(100, 80, 60, 30, 0)
resp$overall <- sample(points, nrow(resp), TRUE, prob = c(0.3, 0.3, 0.2, 0.1, 0.1))
resp$overall[sample(nrow(resp), 12)] <- NA
resp$satisfied <- as.numeric(resp$overall >= 60)
write.csv(resp, "satisfaction_respondents.csv", row.names = FALSE, na = "")
# long format: every respondent rates three of six units
long <- do.call(rbind, lapply(seq_len(nrow(resp)), function(i) {
  units <- sort(sample(paste0("u", 1:6), 3))
  data.frame(respondent = resp$respondent[i], stratum = resp$stratum[i], N = resp$N[i],
             weight = resp$weight[i], unit = units,
             score = sample(points, 3, TRUE, prob = c(0.25, 0.35, 0.2, 0.1, 0.1)))
}))
long$score[sample(nrow(long), 25)] <- NA
write.csv(long, "satisfaction_long.csv", row.names = FALSE, na = "")

sat <- svydesign(id = ~1, strata = ~stratum, weights = ~weight, fpc = ~N, data = resp)
df <- degf(sat)
put("sat", "df", "all", df)
put_stat("sat_mean_overall", svymean(~overall, sat, na.rm = TRUE, deff = TRUE), df)
put_stat("sat_total_overall", svytotal(~overall, sat, na.rm = TRUE, deff = TRUE), df)
put_by("sat_mean_by_sex_age", svyby(~overall, ~sex + age, sat, svymean, na.rm = TRUE, deff = TRUE), df)
p <- svyciprop(~satisfied, subset(sat, !is.na(satisfied)), method = "logit", df = df)
put("sat_prop_logit", "estimate", "all", coef(p))
put("sat_prop_logit", "ci_low", "all", confint(p)[1])
put("sat_prop_logit", "ci_high", "all", confint(p)[2])
# post-stratification on age
pop_age <- data.frame(age = c("18-34", "35-59", "60+"), Freq = c(4000, 6000, 3000))
ps <- postStratify(sat, ~age, pop_age)
put("sat_poststrat", "weight_sum", "all", sum(weights(ps)))
put("sat_poststrat", "weight", resp$respondent, weights(ps))
put_stat("sat_poststrat_mean_overall", svymean(~overall, ps, na.rm = TRUE), df)
put_stat("sat_poststrat_total_overall", svytotal(~overall, ps, na.rm = TRUE), df)
put_by("sat_poststrat_mean_by_sex", svyby(~overall, ~sex, ps, svymean, na.rm = TRUE), df)
# post-stratification on the sex x age cross
pop_cross <- data.frame(expand.grid(sex = c("F", "M"), age = c("18-34", "35-59", "60+")),
                        Freq = c(2100, 1900, 3100, 2900, 1700, 1300))
psx <- postStratify(sat, ~sex + age, pop_cross)
put("sat_poststrat_cross", "weight", resp$respondent, weights(psx))
put_stat("sat_poststrat_cross_mean_overall", svymean(~overall, psx, na.rm = TRUE), df)
# raking on sex and age margins (calibrate with raking = converged IPF, GREG variance)
rk <- calibrate(sat, ~sex + age, population = c(`(Intercept)` = 13000, sexM = 6100,
                `age35-59` = 6000, `age60+` = 3000), calfun = "raking", epsilon = 1e-13, maxit = 200)
put("sat_rake", "weight", resp$respondent, weights(rk))
put_stat("sat_rake_mean_overall", svymean(~overall, rk, na.rm = TRUE), df)
put_stat("sat_rake_total_overall", svytotal(~overall, rk, na.rm = TRUE), df)
put_by("sat_rake_mean_by_sex", svyby(~overall, ~sex, rk, svymean, na.rm = TRUE), df)
ipf <- rake(sat, list(~sex, ~age), list(data.frame(sex = c("F", "M"), Freq = c(6900, 6100)),
            data.frame(age = c("18-34", "35-59", "60+"), Freq = c(4000, 6000, 3000))),
            control = list(maxit = 200, epsilon = 1e-13))
put("sat_ipf", "weight", resp$respondent, weights(ipf))
# covariance of unit means from the same respondents (long format, respondent = PSU)
lg <- svydesign(id = ~respondent, strata = ~stratum, weights = ~weight, fpc = ~N, data = long)
df <- degf(lg)
put("long", "df", "all", df)
# svyby(covmat = TRUE) fails with na.rm = TRUE in survey 4.1.1; subsetting a
# non-calibrated design keeps the stratum PSU counts, which is the same thing.
b <- svyby(~score, ~unit, subset(lg, !is.na(score)), svymean, covmat = TRUE, deff = TRUE)
put_by("long_mean_by_unit", b, df)
v <- vcov(b)
put("long_mean_by_unit", "vcov", as.vector(outer(rownames(v), colnames(v), paste, sep = "~")), as.vector(v))

# --- lonely PSUs ----------------------------------------------------------
lonely <- data.frame(stratum = c("a", "a", "a", "b", "c", "c"), psu = c(1, 2, 3, 4, 5, 6),
                     N = c(10, 10, 10, 4, 8, 8), w = c(3, 3, 4, 4, 4, 4),
                     y = c(1.5, 2, 4, 7, 3, 5))
write.csv(lonely, "lonely.csv", row.names = FALSE)
for (opt in c("certainty", "remove", "adjust")) {
  options(survey.lonely.psu = opt)
  for (withfpc in c(TRUE, FALSE)) {
    d <- if (withfpc) svydesign(id = ~psu, strata = ~stratum, weights = ~w, fpc = ~N, data = lonely)
         else svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = lonely)
    tag <- paste0("lonely_", opt, if (withfpc) "_fpc" else "")
    put_stat(paste0(tag, "_mean"), svymean(~y, d), degf(d))
    put_stat(paste0(tag, "_total"), svytotal(~y, d), degf(d))
  }
}
options(survey.lonely.psu = "fail")
d <- svydesign(id = ~psu, strata = ~stratum, weights = ~w, data = lonely)
failed <- tryCatch({ svymean(~y, d); "no" }, error = function(e) "yes")
put("lonely_fail", "error", "all", as.numeric(failed == "yes"))

result <- do.call(rbind, out)
write.csv(result, "reference_values.csv", row.names = FALSE, quote = TRUE)
cat("wrote", nrow(result), "reference values\n")
