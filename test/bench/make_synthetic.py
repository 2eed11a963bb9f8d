#!/usr/bin/env python3
"""Synthetic rollout-scenario/v1 files with other traffic shapes, onsets and effect sizes than the
public set (diurnal traffic, late onsets, low error rates, 30 s / 5 min ticks, 2 % and 10 %
canaries, short incidents, small SRM), to check that the engine is not tuned to the public files.

    python3 test/bench/make_synthetic.py /tmp/synth && npm run bench:detect -- /tmp/synth

Needs numpy and scipy. Seeds are fixed, so the files are reproducible.
"""
import json, math, numpy as np, sys, os
LE=[25,50,100,200,300,500,750,1000,2500,5000,math.inf]
def hist(rng,n,med,sig=0.6):
    from scipy.stats import norm
    cdf=[norm.cdf((math.log(l/med))/sig) if l!=math.inf else 1.0 for l in LE]
    probs=np.diff([0]+cdf); c=rng.multinomial(n,probs); return list(np.cumsum(c).astype(int))
def gen(name, share=0.05, ticks=180, tickSeconds=60, traffic=20000, diurnal=0.0, p_err=0.002, avail=0.995,
        err_mult=1.0, lat_mult=1.0, conv_drop=0.0, onset=1, incident=None, gap=None, obs_share=None, seed=1, truth=None):
    rng=np.random.default_rng(seed)
    hdr={"format":"rollout-scenario/v1","name":name,"service":"svc","tickSeconds":tickSeconds,"maxTicks":ticks,"expectedCanaryShare":share,
         "slo":{"availability":avail,"latency":{"thresholdMs":500,"objective":0.99}},
         "kpis":[{"name":"conversion","type":"proportion","direction":"increase"},{"name":"order_value","type":"mean","direction":"increase"}]}
    lines=[json.dumps(hdr)]
    for t in range(1,ticks+1):
        tot=int(traffic*(1+diurnal*math.sin(2*math.pi*t/ (1440*60/tickSeconds) *6)))
        nc=rng.binomial(tot, obs_share or share); nb=tot-nc
        for cohort,n in (("baseline",nb),("canary",nc)):
            if gap and cohort=="canary" and gap[0]<=t<=gap[1]: continue
            reg = cohort=="canary" and t>=onset
            inc = incident if incident and t>=incident[0] else None
            pe=p_err*(err_mult if reg else 1)*(inc[1] if inc else 1)
            med=80*(lat_mult if reg else 1)
            e=int(rng.binomial(n,min(pe,1)))
            trials=int(rng.binomial(n,0.1)); pc=0.03*((1-conv_drop) if reg else 1)
            s=int(rng.binomial(trials,pc)); vals=rng.gamma(4,15,size=s)
            lines.append(json.dumps({"tick":t,"cohort":cohort,"requests":int(n),"errors":e,
              "latency":{"le":[x if x!=math.inf else "+Inf" for x in LE],"counts":[int(x) for x in hist(rng,n,med)]},
              "kpis":{"conversion":{"trials":trials,"successes":s},"order_value":{"n":s,"sum":round(float(vals.sum()),2),"sumSq":round(float((vals**2).sum()),2)}}}))
    d=sys.argv[1]
    open(os.path.join(d,name+".jsonl"),"w").write("\n".join(lines)+"\n")
    json.dump(truth, open(os.path.join(d,name+".truth.json"),"w"))
S=[]
for i in range(3):
    gen(f"aa-diurnal-c5-{i}", diurnal=0.5, seed=100+i, truth={"verdict":"promote"})
    gen(f"aa-lowerr-c5-{i}", p_err=0.0002, avail=0.999, seed=110+i, truth={"verdict":"promote"})
    gen(f"aa-t30-c5-{i}", tickSeconds=30, ticks=240, traffic=10000, seed=120+i, truth={"verdict":"promote"})
    gen(f"aa-t300-c5-{i}", tickSeconds=300, ticks=72, traffic=100000, seed=130+i, truth={"verdict":"promote"})
    gen(f"aa-c10-{i}", share=0.1, seed=140+i, truth={"verdict":"promote"})
    gen(f"err2x-on15-c5-{i}", err_mult=2, onset=15, seed=200+i, truth={"verdict":"rollback","fromTick":15})
    gen(f"err3x-on25-c5-{i}", err_mult=3, onset=25, seed=210+i, truth={"verdict":"rollback","fromTick":25})
    gen(f"err1.5x-diurnal-c25-{i}", err_mult=1.5, diurnal=0.5, share=0.25, seed=220+i, truth={"verdict":"rollback","fromTick":1})
    gen(f"err3x-c2-{i}", err_mult=3, share=0.02, seed=230+i, truth={"verdict":"rollback","fromTick":1})
    gen(f"lat1.2x-c10-{i}", lat_mult=1.2, share=0.10, seed=240+i, truth={"verdict":"rollback","fromTick":1})
    gen(f"lat1.5x-on20-c5-{i}", lat_mult=1.5, onset=20, seed=250+i, truth={"verdict":"rollback","fromTick":20})
    gen(f"err2x-lowerr-c25-{i}", err_mult=2, p_err=0.0005, avail=0.999, share=0.25, seed=260+i, truth={"verdict":"rollback","fromTick":1})
    gen(f"conv-20pct-c25-{i}", conv_drop=0.2, share=0.25, seed=270+i, truth={"verdict":"rollback","fromTick":1})
gen("incident-x5-t40", incident=(40,5), seed=300, truth={"verdict":"hold","fromTick":40})
gen("incident-x20-t10", incident=(10,20), seed=301, truth={"verdict":"hold","fromTick":10})
gen("srm1.1x", obs_share=0.055, seed=302, truth={"verdict":"hold","fromTick":1})
gen("gap-canary-t5", gap=(5,180), seed=303, truth={"verdict":"hold","fromTick":5})
gen("gap-canary-t28", gap=(28,180), seed=304, truth={"verdict":"hold","fromTick":28})
