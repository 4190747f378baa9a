"""A small reader of rendered pages, so tests can ask for "the button with
id X" without a third-party HTML parser. (A module of its own, not conftest:
other test folders have a conftest too, and `import conftest` is ambiguous.)"""
from html.parser import HTMLParser


class Element:
    def __init__(self, tag, attrs):
        self.tag = tag
        self.attrs = dict(attrs)
        self.text = ""

    def __repr__(self):
        return f"<{self.tag} {self.attrs} {self.text!r}>"


class Page(HTMLParser):
    """Every element of a page with its attributes and its whole text."""

    VOID = {"meta", "link", "input", "br", "img", "hr"}

    def __init__(self, html):
        super().__init__()
        self.elements = []
        self._open = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs)
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop().tag == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element.text += data

    def find_all(self, tag=None, **attrs):
        return [
            e for e in self.elements
            if (tag is None or e.tag == tag)
            and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def one(self, tag=None, **attrs):
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one {tag} {attrs}, found {found}"
        return found[0]

    def by_id(self, element_id):
        return self.one(id=element_id)

    @property
    def title(self):
        return self.one("title").text

    def texts(self, tag):
        return [" ".join(e.text.split()) for e in self.find_all(tag)]
