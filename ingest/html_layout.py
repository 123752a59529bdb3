"""How a parsed HTML page becomes text: inscriptis, told to draw no layout.

inscriptis's default profile indents every nested <div> by 2 spaces and every list by 4, pads
table cells into aligned columns, and obeys margins and padding in style attributes. Each of
those writes text that grows faster than the page: 30 KB of nested divs became 5 MB of spaces,
a 136 KB table with one long cell 80 MB (every row padded to that cell's width), and each
style attribute up to 100,000 newlines or spaces (3.5 KB of `<p style="margin-top:10000em">`
became 1 MB). For search that padding is noise. `page_text` draws none of it: no
indentation, a table row is one line with its cells separated by a space, and a style
attribute keeps only `display` and `white-space` (`display:none` still hides). The text is
then a few characters per byte of HTML at most.

Does not parse HTML (see ingest.loaders._html_tree) and does not keep any layout.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inscriptis.model.config import ParserConfig
    from lxml.html import HtmlElement

_KEPT_STYLES = ("display", "white-space")
_TABLE_TAGS = ("table", "tr", "td", "th")
CELL_SEPARATOR = " "


@cache
def _config() -> ParserConfig:
    """inscriptis's relaxed profile without indentation, tables read as rows of cells."""
    from copy import copy

    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.html_properties import Display
    from inscriptis.model.config import ParserConfig
    from inscriptis.model.html_element import HtmlElement
    from inscriptis.model.tag import CustomHtmlTagHandlerMapping

    css = {}
    for tag, element in CSS_PROFILES["relaxed"].items():
        css[tag] = copy(element)
        css[tag].padding_inline = 0
    css["table"] = HtmlElement(display=Display.block)
    css["caption"] = HtmlElement(display=Display.block)
    css["tr"] = HtmlElement(display=Display.block)
    css["td"] = css["th"] = HtmlElement(suffix=CELL_SEPARATOR)
    # None: inscriptis skips its handlers, so table tags are plain elements styled above.
    none = dict.fromkeys(_TABLE_TAGS)
    handlers = CustomHtmlTagHandlerMapping(none, none)  # type: ignore[arg-type]
    return ParserConfig(css=css, custom_html_tag_handler_mapping=handlers)


def safe_style(style: str) -> str:
    """Only the declarations that cannot add space: display and white-space.

    Example: safe_style("margin-top: 9em;DISPLAY:none;color:red") -> "DISPLAY:none"
    """
    kept = [part for part in style.split(";")
            if part.split(":", 1)[0].strip().lower() in _KEPT_STYLES]
    return ";".join(kept)


def page_text(tree: HtmlElement) -> str:
    """The text of a parsed page; changes the tree's style, align and valign attributes.

    Example: page_text(<div><div>a</div></div>) -> "a" (inscriptis's default: "    a")
    """
    from inscriptis import Inscriptis

    for element in tree.iter():
        if not isinstance(element.tag, str):  # comments, processing instructions
            continue
        attributes = element.attrib
        if "style" in attributes:
            attributes["style"] = safe_style(attributes["style"])
        attributes.pop("align", None)
        attributes.pop("valign", None)
    return Inscriptis(tree, _config()).get_text()
