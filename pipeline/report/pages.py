"""Self-contained HTML pages from Jinja2 templates: figures are embedded as base64 PNGs,
so a page opens from disk with no network."""
import base64
import io
from dataclasses import dataclass
from pathlib import Path

import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pipeline.io import write_bytes, write_text  # noqa: E402

ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=jinja2.select_autoescape(["html", "j2"]),
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
PNG_META = {"Software": None}   # no version string: identical figures give identical bytes


@dataclass(frozen=True)
class Outputs:
    """What an experiment's report stage writes: its page, the folder of its figures, its summary JSON."""
    html: str
    figures: str
    summary: str

    @classmethod
    def of(cls, args):
        """The Outputs of a report stage's parsed arguments (cli.report_parser)."""
        return cls(args.html, args.figures, args.summary)


def embed(fig, png_path=None, dpi=110):
    """The figure as a data: URI; with png_path, also written there as a PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata=PNG_META)
    plt.close(fig)
    if png_path:
        write_bytes(png_path, buf.getvalue())
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def render(template, out_path, **context):
    """Render a template from pipeline/report/templates to out_path (atomically)."""
    write_text(out_path, ENV.get_template(template).render(**context))
    return out_path
