"""bench/mutation.py's classes of equivalent mutants, on changes mutmut made to this code."""
import pytest

from bench.mutation import EQUIVALENT


def kind_of(old: str, new: str) -> str | None:
    return next((kind for kind, _, same in EQUIVALENT if same(old, new)), None)


@pytest.mark.parametrize("old, new, kind", [
    ("mask = (q.max(dim=-1).values >= c.threshold).float()", "mask = (q.max(dim=+1).values >= c.threshold).float()",
     "last axis"),
    ("turns = torch.randint(4, (len(x),), device=x.device, generator=self.rng)",
     "turns = torch.randint(4, (len(x),), generator=self.rng)", "device"),
    ("self.var = torch.tensor(1.0, device=self.device)", "self.var = torch.tensor(1.0, device=None)", "device"),
    ("passing = confidence >= self.config.threshold", "passing = confidence > self.config.threshold", "tie"),
    ("p_x = F.one_hot(y_labeled, q.shape[1]).to(q.dtype)", "p_x = F.one_hot(y_labeled, q.shape[1]).to(None)",
     "promotion"),
    ("return F.normalize(self.model.projection(embedding), dim=-1)",
     "return F.normalize(self.model.projection(embedding), )", "default"),
    ("query, key = F.normalize(query, dim=1), F.normalize(key.detach(), dim=1)",
     "query, key = F.normalize(query, ), F.normalize(key.detach(), dim=1)", "default"),
    ("z = z - z.max(axis=-1, keepdims=True)", "z = z - z.max(axis=None, keepdims=True)", "shift"),
    ("aligned = q / self.p_bar / q.shape[1]", "aligned = q / self.p_bar * q.shape[1]", "renormalised"),
    ('with np.errstate(invalid="ignore", divide="ignore"):', 'with np.errstate(divide="ignore"):', "warnings"),
    ('order = np.argsort(-confidence, kind="stable")', 'order = np.argsort(-confidence, kind="STABLE")', "sort kind"),
    ('order = np.argsort(-confidence, kind="stable")', 'order = np.argsort(-confidence, )', None),
    # and what is not equivalent
    ("loss_u = (-(q * logits_strong.log_softmax(dim=-1)).sum(dim=-1) * mask).mean()",
     "loss_u = (+(q * logits_strong.log_softmax(dim=-1)).sum(dim=-1) * mask).mean()", None),
    ("graph = graph / graph.sum(dim=-1, keepdim=True)", "graph = graph / graph.sum(dim=-2, keepdim=True)", None),
    ("eps = EPS_PER_DIM * u[0].numel() ** 0.5", "eps = EPS_PER_DIM * u[0].numel() ** 1.5", None),
    ("p = logits.softmax(dim=-1)", "p = logits.softmax()", None),
    ("mask = (q.max(dim=-1).values >= c.threshold).float()", "mask = (q.max(dim=-1).values <= c.threshold).float()",
     None),
    ("return F.normalize(self.model.projection(embedding), dim=-1)",
     "return F.normalize(self.model.projection(embedding), dim=None)", None),
])
def test_each_change_falls_in_its_class_and_no_other_change_does(old, new, kind):
    assert kind_of(old, new) == kind
