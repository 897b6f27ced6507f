"""The mutation score of the engine's mathematics: `python -m bench.mutation` once `mutmut run` has run.

Reads mutmut's results (setup.cfg names the files and the tests), puts each surviving mutant whose change cannot
alter what a method computes into one of the EQUIVALENT classes below, by the shape of its change, and prints the
score, killed / (checked - equivalent), then every other survivor's change: those are the ones bench/README.md
must explain. Timeouts count as killed (the mutant made a test hang), functions that no selected test reaches
as survived.
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter

DEFAULTS = (r",?\s*side=\"left\"",)  # searchsorted's
NORMALIZE_DIM = (r",?\s*dim=-?1\b",)  # F.normalize's default is dim 1
# (class, why no test can tell it apart, does the mutated line only make this change?)
EQUIVALENT = [
    ("last axis", "dim / axis -1 and +1 name the same axis: every tensor mutated so is 2-D",
     lambda old, new: re.sub(r"(dim|axis)=\+1\b", r"\1=-1", new) == old),
    ("device", "state built on the device of the tensors it meets; the tests run on the CPU, where None is that "
               "device (the CUDA path is bench/gpu.py's)",
     lambda old, new: re.sub(r",?\s*device=[\w.]+", "", old).replace(", )", ")").replace("(, ", "(")
     == re.sub(r",?\s*device=[\w.]+", "", new).replace(", )", ")").replace("(, ", "(")),
    ("tie", "a float confidence or loss exactly equal to its threshold: >= and > differ on ties only",
     lambda old, new: old.replace(">=", ">").replace("<=", "<") == new.replace(">=", ">").replace("<=", "<")),
    ("promotion", "a one-hot target cast to None instead of the probabilities' dtype: the arithmetic it enters "
                  "promotes it to the same floats",
     lambda old, new: re.sub(r"\.to\([\w.]+\.dtype\)", ".to(None)", old) == new),
    ("default", "an argument dropped whose default is the value given (F.normalize's dim 1, searchsorted's side "
                "'left')",
     lambda old, new: any(re.sub(pattern, "", old, count=1).replace(", )", ")") == new.replace(", )", ")")
                          for pattern in DEFAULTS + (NORMALIZE_DIM if "normalize(" in old else ()))),
    ("shift", "the maximum a softmax subtracts for range, over the row or the whole array: it cancels in the ratio",
     lambda old, new: old.startswith("z = z - z.max(") and new.startswith("z = z - z.max(")),
    ("warnings", "np.errstate's settings only decide whether numpy warns; what it computes inside is the same",
     lambda old, new: old.startswith("with np.errstate(") and new.startswith("with np.errstate(")),
    ("sort kind", "numpy reads a sort's kind in any case: 'STABLE' is 'stable'",
     lambda old, new: old.replace('kind="stable"', 'kind="STABLE"') == new),
    ("renormalised", "a scale (1/C or C) applied before the row is renormalised to sum to 1",
     lambda old, new: "aligned" in old and old.replace("/ q.shape[1]", "* q.shape[1]").replace(
         "/ self.num_classes", "* self.num_classes") == new),
]


def mutmut(*args: str) -> str:
    return subprocess.run(["mutmut", *args], capture_output=True, text=True, check=True).stdout


def change(name: str) -> tuple[str, str]:
    """The mutated lines, before and after, each joined into one string."""
    lines = [line for line in mutmut("show", name).splitlines()
             if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    squash = " ".join
    return (squash(line[1:].strip() for line in lines if line[0] == "-"),
            squash(line[1:].strip() for line in lines if line[0] == "+"))


def main():
    status = dict(line.strip().rsplit(": ", 1) for line in mutmut("results", "--all", "true").splitlines()
                  if ": " in line)
    counts = Counter(status.values())
    equivalent, unexplained = Counter(), []
    for name in (name for name, state in status.items() if state in ("survived", "no tests")):
        old, new = change(name)
        kind = next((kind for kind, _, same in EQUIVALENT if same(old, new)), None)
        if kind:
            equivalent[kind] += 1
        else:
            unexplained.append((name, old, new))
    killed = counts["killed"] + counts["timeout"]
    checked = sum(n for state, n in counts.items() if state != "not checked")
    print(f"{len(status)} mutants, {checked} checked: {dict(counts)}")
    for kind, reason, _ in EQUIVALENT:
        print(f"equivalent, {kind}: {equivalent[kind]} ({reason})")
    print(f"score: {killed} killed of {checked - sum(equivalent.values())} not equivalent = "
          f"{killed / max(checked - sum(equivalent.values()), 1):.1%}\n\nsurvivors to explain:")
    for name, old, new in unexplained:
        print(f"{name}\n  - {old}\n  + {new}")


if __name__ == "__main__":
    main()
