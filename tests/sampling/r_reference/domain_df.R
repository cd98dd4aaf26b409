# Reference for the degrees of freedom of a domain proportion's logit interval
# (issue #23): R svyciprop(method = "logit") with df = degf(design) of the
# whole design (minyi's default, --df design) and with svyciprop's own default
# df = degf(<the subset design>) (minyi --df domain), for each school type of
# apistrat.  Also the Wald ("mean") interval, which takes the same df.
#
#   Rscript domain_df.R     # writes domain_df_values.csv (R survey 4.x)
library(survey)
data(api)
strat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
strat <- update(strat, yes = as.numeric(sch.wide == "Yes"))
out <- data.frame()
put <- function(method, df, quantity, domain, value) {
  out <<- rbind(out, data.frame(method = method, df = df, quantity = quantity,
                                domain = domain, value = sprintf("%.17g", value)))
}
for (m in c("logit", "mean")) {
  for (s in c("E", "H", "M")) {
    sub <- subset(strat, stype == s)
    for (kind in c("design", "domain")) {
      p <- if (kind == "design") {
        svyciprop(~yes, sub, method = m, df = degf(strat))
      } else {
        svyciprop(~yes, sub, method = m)  # df = degf(sub), R's default
      }
      put(m, kind, "estimate", s, coef(p))
      put(m, kind, "ci_low", s, confint(p)[1])
      put(m, kind, "ci_high", s, confint(p)[2])
      put(m, kind, "df", s, if (kind == "design") degf(strat) else degf(sub))
    }
  }
}
out$R <- paste(R.version$major, R.version$minor, sep = ".")
out$survey <- as.character(packageVersion("survey"))
write.csv(out, "domain_df_values.csv", row.names = FALSE)
