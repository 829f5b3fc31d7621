"""Rich notebook display of fitted models (``_repr_html_``): estimates, standard errors,
Wald intervals and fit statistics, as :meth:`clvmodel.results.FitResult.summary` gives them."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models.base import BaseModel


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.6g}"
    return html.escape(str(value))


def model_html(model: BaseModel) -> str:
    """An HTML table of a model's estimates and fit statistics (or a line if not fitted)."""
    name = html.escape(type(model).__name__)
    if not hasattr(model, "result_"):
        return f"<p><b>{name}</b>: not fitted (call <code>fit</code>).</p>"
    result = model.result_
    table = result.summary()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["parameter", *table.columns])
    rows = "".join(
        "<tr><th>"
        + html.escape(str(param))
        + "</th>"
        + "".join(f"<td>{_cell(float(v))}</td>" for v in row)
        + "</tr>"
        for param, row in zip(table.index, table.to_numpy(), strict=True)
    )
    unit = f", time unit {html.escape(result.time_unit)}" if result.time_unit else ""
    stats = (
        f"{result.n_obs:,} customers{unit} · log-likelihood {_cell(result.log_likelihood)} · "
        f"AIC {_cell(result.aic)} · BIC {_cell(result.bic)}"
        + ("" if result.converged else f" · <b>not converged</b>: {html.escape(result.message)}")
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    return (
        f'<div class="clvmodel-model"><p><b>{name}</b> ({html.escape(result.model)})</p>'
        f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        f"<p>{stats}</p>" + (f"<ul>{notes}</ul>" if notes else "") + "</div>"
    )
