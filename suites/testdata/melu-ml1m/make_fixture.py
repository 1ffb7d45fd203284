"""Writes a tiny synthetic fixture in the format of MeLU's movielens/ml-1m/ files (our own data).

Run from this folder: python3 make_fixture.py. Users 1..6 are existing, 7..12 new; movies 1..8
existing, 9..12 new. The tests use min_ratings 4, max_ratings 6, query 2, so a user with 3 or 7
items in a state is no task. warm_state goes to ../melu-ml1m-warm/ (the tests copy it in to take
the warm-state route).
"""

import json

GENDERS = "MFMFMFMFMFMF"
AGES = [1, 18, 25, 35, 45, 50, 56, 18, 25, 35, 45, 50]
with open("users.dat", "w", encoding="latin-1", newline="\n") as f:
    for u in range(1, 13):
        zip_code = "98107-2117" if u == 2 else f"{10000 + 1111 * u}"
        f.write(f"{u}::{GENDERS[u - 1]}::{AGES[u - 1]}::{u + 3}::{zip_code}\n")

RATES = ["PG", "R", "G", "PG-13", "R", "UNRATED", "PG", "R", "PG-13", "R", "G", "NC-17"]
GENRES = ["Comedy", "Drama, Romance", "N/A", "Action, Comedy, Drama", "Drama", "Sci-Fi", "Comedy, Family",
          "Drama", "Action", "Comedy", "Drama, Sci-Fi", "Horror"]
DIRECTORS = ["Ann Lee", "Bo Kim", "Ann Lee", "Jane Doe (co-director), John Roe", "N/A", "Bo Kim",
             "Cy Park(uncredited)", "Ann Lee", "Bo Kim", "Di Wu", "Ann Lee", "Di Wu"]
ACTORS = ["A1, A2", "A2, A3", "A1", "A4, A5, A6", "N/A", "A1, A3", "A2", "A5", "A1, A7", "A8", "A2, A9", "A3"]
with open("movies_extrainfos.dat", "w", encoding="utf-8", newline="\n") as f:
    for m in range(1, 13):
        year = 1990 + m if m <= 8 else 1998 + m % 3
        f.write(f"{m}::Movie {m} \u00e9::{year}::{RATES[m - 1]}::01 Jan {year}::{GENRES[m - 1]}::"
                f"{DIRECTORS[m - 1]}::Writer {m}::{ACTORS[m - 1]}::Plot {m}.::N/A\n")


def state(name, rows, folder="."):
    x = {str(u): [str(m) for m, _ in ms] for u, ms in rows.items()}
    y = {str(u): [r for _, r in ms] for u, ms in rows.items()}
    with open(f"{folder}/{name}.json", "w") as f:
        json.dump(x, f)
    with open(f"{folder}/{name}_y.json", "w") as f:
        json.dump(y, f)


def ratings(u, items):
    return [(m, 1 + (u * 7 + m * 3) % 5) for m in items]


OLD = list(range(1, 9))
NEW = [9, 10, 11, 12]
# user-cold: new users, existing movies; 7 and 11 are no tasks (3 and 7 items).
state("user_cold_state", {7: ratings(7, OLD[:3]), 8: ratings(8, OLD[:4]), 9: ratings(9, OLD[2:7]),
                          10: ratings(10, OLD[:6]), 11: ratings(11, OLD[:7]), 12: ratings(12, OLD[3:8])})
# item-cold: existing users, new movies; 5 is no task (3 items).
state("item_cold_state", {1: ratings(1, NEW), 2: ratings(2, NEW), 3: ratings(3, NEW), 4: ratings(4, NEW),
                          5: ratings(5, NEW[:3])})
# user-and-item-cold: new users, new movies.
state("user_and_item_cold_state", {8: ratings(8, NEW), 9: ratings(9, NEW), 10: ratings(10, NEW)})
# warm: existing users, existing movies (separate folder).
state("warm_state", {u: ratings(u, OLD[u % 3:u % 3 + 4 + u % 3]) for u in range(1, 7)}, "../melu-ml1m-warm")
