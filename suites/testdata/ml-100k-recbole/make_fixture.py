"""Writes ml-100k.inter/.user/.item, RecBole's atomic-file form of the ML-100k fixture in ../ml-100k/.

Run from this folder: python3 make_fixture.py. The conversion follows what RecBole's own
ml-100k files show: the title loses its trailing `(year)`, which becomes `release_year`
(no year: the title as it is and `release_year` copied from RecBole's `unkonwn`); `class` lists the
genres of the flags in u.item's column order, space-separated; files are UTF-8. Rows that
are bad in the fixture (u.data line 101, rating `five`) stay bad here, at line 102 (after
the header).
"""

import re

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
          "War", "Western"]


def lines(name):
    with open("../ml-100k/" + name, encoding="latin-1") as f:
        return [l.rstrip("\n") for l in f if l.strip()]


with open("ml-100k.inter", "w", encoding="utf-8", newline="\n") as out:
    out.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
    for l in lines("u.data"):
        out.write(l + "\n")

with open("ml-100k.user", "w", encoding="utf-8", newline="\n") as out:
    out.write("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n")
    for l in lines("u.user"):
        out.write("\t".join(l.split("|")) + "\n")

with open("ml-100k.item", "w", encoding="utf-8", newline="\n") as out:
    out.write("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n")
    for l in lines("u.item"):
        f = l.split("|")
        m = re.match(r"^(.*) \(([^()]*)\)$", f[1])
        title, year = (m.group(1), m.group(2)) if m else (f[1], "unkonwn")
        genres = [g for g, flag in zip(GENRES, f[5:]) if flag == "1"]
        out.write("\t".join([f[0], title, year, " ".join(genres)]) + "\n")
