"""Just enough of nginx's config grammar to assert on what a conf says:
directives with arguments, blocks, quotes and comments. (A module of its own,
not conftest, so that importing it is never ambiguous.)"""
import re
from dataclasses import dataclass, field

TOKEN = re.compile(r"""#[^\n]*|"(?:\\.|[^"])*"|'(?:\\.|[^'])*'|[{};]|[^\s{};"'#]+""")


@dataclass
class Directive:
    name: str
    args: list
    children: list = field(default_factory=list)
    is_block: bool = False

    def all(self, name):
        return [child for child in self.children if child.name == name]

    def one(self, name, *args):
        found = [d for d in self.all(name) if list(d.args[: len(args)]) == list(args)]
        assert len(found) == 1, f"expected one {name} {args} in {self.name}, found {found}"
        return found[0]


def tokens(text):
    for token in TOKEN.findall(text):
        if token.startswith("#"):
            continue
        if token[0] in "\"'":
            token = token[1:-1]
        yield token


def parse(text):
    root = Directive("main", [], is_block=True)
    stack, words = [root], []
    for token in tokens(text):
        if token == ";":
            stack[-1].children.append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            block = Directive(words[0], words[1:], is_block=True)
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            assert not words and len(stack) > 1, "unbalanced braces"
            stack.pop()
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unterminated block or directive"
    return root


def effective(name, *levels):
    """An array directive (proxy_set_header, add_header) as nginx applies it:
    a level inherits its parent's list only if it defines none itself."""
    for level in reversed(levels):
        found = level.all(name)
        if found:
            return [tuple(d.args) for d in found]
    return []
