"""Spark SQL's spellings of the summary SQL (:mod:`clvmodel.engines.sql`): :data:`SPARK`."""

from __future__ import annotations

from ..sql import EXACT_TYPE, Dialect

#: strptime codes and the java.time pattern letters Spark parses them with.
_JAVA_PATTERN = {
    "Y": "yyyy",
    "y": "yy",
    "m": "MM",
    "d": "dd",
    "H": "HH",
    "I": "hh",
    "M": "mm",
    "S": "ss",
    "f": "SSSSSS",
    "p": "a",
    "b": "MMM",
    "B": "MMMM",
    "j": "DDD",
    "z": "XX",
    "%": "%",
}


def java_pattern(date_format: str) -> str:
    """A strptime format (``%Y%m%d``) as a java.time pattern (``yyyyMMdd``).

    Literal text is quoted. Raises :class:`ValueError` for a code without an equivalent.
    """
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal).replace("'", "''")
            out.append(text if not any(c.isalpha() for c in text) else f"'{text}'")
            literal.clear()

    i = 0
    while i < len(date_format):
        c = date_format[i]
        if c == "%" and i + 1 < len(date_format):
            code = date_format[i + 1]
            if code not in _JAVA_PATTERN:
                raise ValueError(
                    f"The date format code %{code} of {date_format!r} has no Spark equivalent; "
                    f"use the codes {', '.join('%' + k for k in _JAVA_PATTERN)}."
                )
            if code == "%":
                literal.append("%")
            else:
                flush()
                out.append(_JAVA_PATTERN[code])
            i += 2
            continue
        literal.append(c)
        i += 1
    flush()
    return "".join(out)


class SparkDialect(Dialect):
    """Spark SQL's spellings (Spark 3.5 and 4.x, ANSI mode on or off).

    Parsing is narrowed to what DuckDB accepts, so that both engines reject the same rows:
    ISO dates must start with a four-digit year (Spark would read ``1997`` alone as a
    date), and numbers may not end in Java's ``d``/``f`` type suffixes (``1d``).
    """

    name = "spark"

    def quote(self, identifier: str) -> str:
        """Quote an identifier: ```name```."""
        return "`" + identifier.replace("`", "``") + "`"

    def literal(self, text: str) -> str:
        """A string literal: ``'text'`` with quotes and backslashes escaped."""
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def try_double(self, expr: str) -> str:
        """``TRY_CAST`` to DOUBLE, NULL for Java-only spellings such as ``1d`` or ``2f``."""
        return (
            f"CASE WHEN {expr} RLIKE '[0-9.][dDfF]$' THEN NULL ELSE TRY_CAST({expr} AS DOUBLE) END"
        )

    def parse_timestamp(self, expr: str, date_format: str | None) -> str:
        """ISO text as a wall-clock timestamp (``TIMESTAMP_NTZ``: a UTC offset is ignored, as
        DuckDB does); with a strptime format, ``try_to_timestamp`` with the java pattern."""
        if date_format is None:
            return (
                f"CASE WHEN {expr} RLIKE '^[0-9]{{4}}-' THEN TRY_CAST({expr} AS TIMESTAMP_NTZ) END"
            )
        return f"try_to_timestamp({expr}, {self.literal(java_pattern(date_format))})"

    def day_diff(self, start: str, end: str) -> str:
        """``datediff(end, start)``."""
        return f"datediff({end}, {start})"

    def is_finite(self, expr: str) -> str:
        """Neither NaN nor +/-infinity."""
        return f"(NOT isnan({expr}) AND abs({expr}) != CAST('Infinity' AS DOUBLE))"

    def exact(self, expr: str) -> str:
        """DuckDB's DOUBLE to :data:`EXACT_TYPE` cast, bit for bit.

        Spark's own cast goes through the shortest decimal text of the double (``35.31``
        stays 35.31), DuckDB's through the double ``x * 10^18`` rounded half away from
        zero. That integer ``n < 10^33`` is split exactly into three parts below ``2^40``,
        ``n = c2 2^80 + c1 2^40 + c0``, each cast exactly and scaled by ``10^-18`` in
        decimal arithmetic (precision stays within 38 digits, so nothing is rounded).
        """
        y = f"abs(round({expr} * CAST(1e18 AS DOUBLE)))"
        c2 = f"floor({y} / CAST(1208925819614629174706176 AS DOUBLE))"
        r = f"({y} - CAST({c2} AS DOUBLE) * CAST(1208925819614629174706176 AS DOUBLE))"
        c1 = f"floor({r} / CAST(1099511627776 AS DOUBLE))"
        c0 = f"CAST({r} - CAST({c1} AS DOUBLE) * CAST(1099511627776 AS DOUBLE) AS BIGINT)"
        scaled = (
            f"CAST({c2} AS DECIMAL(10, 0)) * CAST('1208925.819614629174706176' AS DECIMAL(25, 18))"
            f" + CAST({c1} AS DECIMAL(13, 0)) * CAST('0.000001099511627776' AS DECIMAL(18, 18))"
            f" + CAST({c0} AS DECIMAL(13, 0)) * CAST('0.000000000000000001' AS DECIMAL(18, 18))"
        )
        return f"CAST(CASE WHEN {expr} < 0 THEN -({scaled}) ELSE {scaled} END AS {EXACT_TYPE})"


SPARK = SparkDialect()
