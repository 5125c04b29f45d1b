"""`check(model)`: how a model departs from the tailoring rules of the
conversion papers, and whether snncore can still convert it."""

from .._summary import format_table
from .graph import survey

__all__ = ["check", "CheckReport"]

# rule key -> (rule, papers, how snncore handles a departure)
RULES = {
    "bias": ("no biases in conv and linear layers", "Cao 2015; Diehl 2015; Sengupta 2019",
             "yes: each bias becomes a constant current per step (Rueckauer 2017); refused "
             "under strict_bias=True"),
    "batchnorm": ("no batch normalisation", "Sengupta 2019 (and the bias rule of Cao, Diehl)",
                  "yes: folded into the layer before it (Rueckauer 2017), which gives it a bias"),
    "maxpool": ("average pooling, not max pooling", "Cao 2015",
                "yes, right after a ReLU: spiking max pooling of spike counts (exact as the "
                "timesteps grow); maxpool='avg' substitutes average pooling instead"),
    "leaky": ("ReLU activations", "Cao 2015",
              "yes: signed neurons with imbalanced thresholds (Kim 2020, Spiking-YOLO)"),
    "activation": ("ReLU activations", "Cao 2015", "no: no rate-coded spiking equivalent"),
    "softmax": ("no softmax output", "Cao 2015", "yes: a final softmax or log_softmax is "
                                                 "left out of the read-out (the argmax is "
                                                 "unchanged; the outputs are logits)"),
    "sigmoid": ("ReLU activations", "Cao 2015", "yes as the last operation: a final sigmoid is "
                                                "left out of the read-out (monotone: the argmax "
                                                "is unchanged; the outputs are logits)"),
}


class CheckReport:
    """The departures of a model from the papers' tailoring rules.

    Attributes
    ----------
    rows : list of dict
        One per departure: rule, papers, found (which layer), converts.
    refusal : str or None
        Why snncore cannot convert the model, if it cannot.
    notes : list of str
        What the conversion does beside the rules: a clipped ReLU (ReLU6,
        hardtanh(x, 0, c), clamp(x, 0, c)) converts with its clip as a ceiling on
        the layer's threshold; a final softmax, log_softmax or sigmoid is left
        out of the read-out without changing the argmax (the outputs are the
        logits before it).
    """

    def __init__(self, rows, refusal, notes=()):
        self.rows = rows
        self.refusal = refusal
        self.notes = list(notes)

    @property
    def convertible(self):
        """True when from_torch can convert the model (maybe with options)."""
        return self.refusal is None

    def __str__(self):
        if not self.rows and self.refusal is None:
            return "The model follows the tailoring rules of the conversion papers."
        table = format_table(["rule", "paper", "found", "snncore converts it"],
                             [[r["rule"], r["papers"], r["found"], r["converts"]]
                              for r in self.rows])
        lines = [table]
        lines.extend(f"note: {n}" for n in self.notes)
        if self.refusal:
            lines.append(f"\nnot convertible: {self.refusal}")
        else:
            lines.append("\nconvertible")
        return "\n".join(lines)

    __repr__ = __str__


def check(model):
    """Report every way `model` departs from the tailoring rules of Cao et al.
    2015, Diehl et al. 2015 and Sengupta et al. 2019 (biases, max pooling,
    non-ReLU activations, batch normalisation, a softmax or sigmoid output), the paper
    each rule comes from, and whether snncore can still convert it. A clipped
    ReLU (ReLU6 and its spellings) is no departure: it is noted, since its clip
    becomes a ceiling on the layer's threshold.

    Returns
    -------
    CheckReport
        Printable as a table; ``.convertible`` and ``.rows`` for programs.
    """
    departures, refusal, notes = survey(model)
    rows = []
    for key, found in departures:
        rule, papers, converts = RULES[key]
        rows.append({"key": key, "rule": rule, "papers": papers, "found": found,
                     "converts": converts})
    return CheckReport(rows, refusal, notes)
