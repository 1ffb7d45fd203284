# Writes the golden inputs: a small deterministic run (one suite, two scenarios, two metrics,
# five methods, two seeds, ten users, clean plus two shot perturbations).
import csv, io
state = 0x9E3779B97F4A7C15
def nxt():
    global state
    state ^= (state << 13) & 0xFFFFFFFFFFFFFFFF
    state ^= state >> 7
    state ^= (state << 17) & 0xFFFFFFFFFFFFFFFF
    return (state >> 11) / float(1 << 53)
methods = [("oracle", 0.0), ("maml", 0.1), ("meta_sgd & co", 0.12), ("item-mean", 0.2), ("global-mean", 0.3)]
perts = [("none", 0.0), ("shots(1)", 0.15), ("shots(5)", 0.05)]
users = range(10)
out = io.StringIO(newline="")
w = csv.writer(out, lineterminator="\n")
w.writerow(["suite","scenario","method","seed","perturbation","user","metric","value"])
for scenario in ["warm", "user-cold"]:
    for method, off in methods:
        for seed in range(2):
            for p, worse in perts:
                if method == "oracle": worse = 0.0
                for user in users:
                    for metric, base in [("mae", 0.6), ("ndcg@3", 0.9)]:
                        noise = 0.1 * nxt()
                        if metric == "ndcg@3":
                            v = base - off / 2 + noise / 2 - worse / 2
                        else:
                            v = base + off + noise + worse + 0.02 * (user % 3)
                        w.writerow(["synthetic", scenario, method, seed, p, user, metric, repr(round(v, 4))])
open("inputs/results.csv", "w").write(out.getvalue())
with open("inputs/groups.csv", "w") as f:
    f.write("suite,user,attribute,group\n")
    for u in users:
        f.write(f"synthetic,{u},gender,{'F' if u % 2 == 0 else 'M'}\n")
        # age 2 has one user only: a group too small, listed as skipped
        f.write(f"synthetic,{u},age,age {0 if u < 5 else (1 if u < 9 else 2)}\n")
with open("inputs/items.csv", "w") as f:
    f.write("suite,item,ratings\n")
    for i in range(30):
        f.write(f"synthetic,{i},{30 - i + (i % 4)}\n")
cands = {}
with open("inputs/candidates.csv", "w") as f:
    f.write("suite,scenario,user,candidates,relevant\n")
    for scenario in ["warm", "user-cold"]:
        for u in users:
            c = [(u + 3 * j) % 30 for j in range(10)]
            rel = [] if u == 7 else c[:3]
            cands[(scenario, u)] = c
            f.write(f"synthetic,{scenario},{u},{' '.join(map(str, c))},{' '.join(map(str, rel))}\n")
with open("inputs/rankings.csv", "w") as f:
    f.write("suite,scenario,method,seed,perturbation,user,top\n")
    for scenario in ["warm", "user-cold"]:
        for m, (method, _) in enumerate(methods):
            for seed in range(2):
                for p in ["none", "shots(1)"]:
                    if p != "none" and method != "maml": continue
                    for u in users:
                        c = cands[(scenario, u)]
                        top = [c[(2 * m + seed + (p != "none") + j * [1, 3, 7, 9, 1][m]) % 10] for j in range(5)]
                        f.write(f"synthetic,{scenario},{method},{seed},{p},{u},{' '.join(map(str, top))}\n")
