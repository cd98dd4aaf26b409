# Independent cross-check of sampling.smoothing with R metafor (rma.uni is the
# Fay–Herriot model: yi = direct, vi = known sampling variance, mods = area
# covariates, tau^2 = sigma2_v).  R sae is not packaged for Debian; metafor is
# (r-cran-metafor).  metafor has no g3 term, so this checks sigma2_v, beta,
# the EBLUP and g1 + g2 (the square of blup()'s se); the full MSE is checked
# against samplics (reference_samplics.py).
#
#   Rscript reference_metafor.R     # writes metafor_values.csv
suppressMessages(library(metafor))
units <- read.csv("units.csv")
out <- data.frame()
put <- function(case, quantity, area, value) {
  out <<- rbind(out, data.frame(case = case, quantity = quantity, area = area,
                                value = sprintf("%.17g", value)))
}
models <- list(intercept = ~ 1, last_year = ~ last_year,
               last_year_share_young = ~ last_year + share_young)
for (method in c("REML", "ML")) {
  for (name in names(models)) {
    case <- paste0(tolower(method), "_", name)
    fit <- rma(yi = direct, vi = variance, mods = models[[name]], data = units,
               method = method, control = list(threshold = 1e-10, maxiter = 10000))
    put(case, "sigma2_v", "", fit$tau2)
    for (j in seq_along(coef(fit))) put(case, paste0("coefficient_", j - 1), "", coef(fit)[j])
    b <- blup(fit)
    put(case, "eblup", units$unit, b$pred)
    put(case, "g1_plus_g2", units$unit, b$se^2)
  }
}
out$R <- paste(R.version$major, R.version$minor, sep = ".")
out$metafor <- as.character(packageVersion("metafor"))
write.csv(out, "metafor_values.csv", row.names = FALSE)
