"""svy mean by unit (as shared/peers/peer_est_svy.py), every domain at full precision."""

import sys

import polars as pl
import svy

d = pl.read_csv(sys.argv[1])
s = svy.Sample(d, svy.Design(stratum="stratum", wgt="weight", pop_size="N"))
r = s.estimation.mean("score", by="unit", drop_nulls=True).to_polars()
sys.stdout.write(r.write_csv(float_precision=17))
