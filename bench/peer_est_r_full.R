# R survey::svyby mean by unit (as /work/shared/peers/peer_est_r.R) printing every domain at full precision.
suppressMessages(library(survey))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
des <- svydesign(id = ~1, strata = ~stratum, weights = ~weight, fpc = ~N, data = d)
b <- svyby(~score, ~unit, des, svymean, na.rm = TRUE)
write.csv(data.frame(unit = b$unit, estimate = sprintf("%.17g", coef(b)), se = sprintf("%.17g", SE(b))),
          stdout(), row.names = FALSE, quote = FALSE)
