"""Gates on the ranked leader: what the message as a whole says about trusting it, and which
candidate should lead instead.

`ToolIndex.rank` (router/tools.py) ranks by the reranker and the taught examples; then:

* `new_leader` moves a better candidate of the top few to the lead ("tell me a joke about time
  zones": a tool that speaks of jokes; "list every entity in your graph" led by a tool that
  creates: the first reader);
* `vetoes` says whether the leader may be trusted at all. A veto makes P(fit) 0 ("no tool
  fits"): the message composes text and names nothing to store it in, asks for an explanation,
  is small talk, asks for a change no candidate makes or that the leader does not make, asks for
  made-up text the leader does not speak of, or the leader matches only the material after a
  colon or only the words that say when.

Each gate is a general-English rule from `retrieval_compose`, `retrieval_questions` and
`retrieval_intent`, read on the ask (the command) or the whole message (what it is) as noted;
none knows a tool by name. Pure functions of the text and the candidates' `ToolDoc`s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from mcproute.router.retrieval_commands import (
    errand,
    introduces,
    links,
    looks,
    only_existing,
    operation,
    subcommand,
    when_aside,
    without_when,
)
from mcproute.router.retrieval_compose import composes, instruction, speaks_of
from mcproute.router.retrieval_features import ToolDoc
from mcproute.router.retrieval_intent import (
    adds_to_file,
    asks_about,
    changed_file_verb,
    changed_kinds,
    changes,
    family,
    only_reads,
    opening_word,
    query_many,
    reads,
)
from mcproute.router.retrieval_questions import explains, small_talk
from mcproute.router.retrieval_slots import named_files, names_file, query_slots
from mcproute.router.retrieval_text import stem, tokens
from mcproute.router.retrieval_thesaurus import ASKS_KEPT, terms_of

__all__ = [
    "KEEPING",
    "Vetoes",
    "edits_in_place",
    "keeps_fact",
    "new_leader",
    "one_file",
    "points_at",
    "recalls",
    "spares",
    "vetoes",
]

# How far down the ranking a tool that speaks of the kind of text asked for is looked for.
_CRAFT_REACH = 5
# A tool about time speaks of one of these (stemmed).
_TIME_TERMS = frozenset({"time", "date", "clock", "timezon"})
# How far down a reading tool is looked for when a command to see something is led by one that changes.
_LOOK_REACH = 3
# Commands that change something, led by a tool that only reads: the first tool of the top few
# that does it leads ("commit what I have staged" led by git_diff_staged, "please remember my
# dentist is Dr. Patel" by search_nodes). "create" counts since the twelfth session: seven
# cross-fitted dev requests right, none wrong; it costs MetaTool one ("generate a workout plan" is
# served by Planfit, "Get your tailored workout plan ...", and went to a tool that creates videos).
_ALTERING = frozenset({"create", "write", "move", "delete"})
# The plain verbs of removing: they say nothing of what is removed, so any deleting tool shares them.
_REMOVES = frozenset({"delete", "remove", "erase", "rm", "destroy", "purge", "wipe", "trash"})
# A tool that says it overwrites what is there; how far down one that adds to a file is looked for.
_OVERWRITES = re.compile(r"\boverwrit", re.IGNORECASE)
_ADD_REACH = 5
# The verbs of keeping what the user gives ("save this: ...", "note down: ...").
KEEPING = frozenset({"save", "store", "keep", "remember", "record", "note", "jot", "memorise", "memorize"})
# A command to create is never given to a tool that deletes, nor one to delete to a tool that creates.
_OPPOSITE = frozenset({"create", "delete"})
# ... nor one to delete to a tool that moves, unless the request also says where to put the thing
# ("remove draft.md from the root and put it in archive/").
# ("file" is not among the verbs: "delete the file old.log in ~/tmp" says where it is, not where to put it)
_PUTS = re.compile(r"\b(?:put|place|stick|drop|tuck)\b.*\b(?:in|into|under)\b", re.IGNORECASE)


def _keeps(instruction: str) -> bool:
    """The instruction opens with a verb of keeping ("save this", "pls note down", "could you store")."""
    m = opening_word(instruction.lower())  # after polite openings, as a command's verb is read
    return m is not None and m.group() in KEEPING


# What follows a verb of keeping when a fact is given to keep: "remember that ...", "note down:
# ...", "keep in mind that ...", "save this: ..."; not "remember to call mom at 5" (a reminder,
# which no reference tool sets).
_FACT = re.compile(r"(?:\s+(?:down|in mind))?(?:\s+that\b|\s+this\s*:|\s*:)")


def keeps_fact(ask: str) -> bool:
    """The ask opens (after polite openings) with a verb of keeping (`KEEPING`) followed by the
    fact to keep ("remember that ...", "note down: ...", "save this: ...")."""
    low = ask.lower()
    m = opening_word(low)
    return m is not None and m.group() in KEEPING and _FACT.match(low, m.end()) is not None


_RECALLS = re.compile(ASKS_KEPT)


def recalls(text: str) -> bool:
    """The message asks what the assistant has kept of what it was told ("do you remember anything
    about hiking", "who did i say works at Siemens?"; the thesaurus's `ASKS_KEPT`)."""
    return _RECALLS.search(text.lower()) is not None


# "save a haiku about rain to poems/rain.txt": a path or a URL is something a tool reads, so the
# examples' no-tool doubts spare a leader that takes one. Not a leader that takes none: "how big
# is server.log" on a config without the filesystem server, led by git_log for the word "log".
_FILE_KINDS = frozenset({"file", "folder"})


def points_at(whole: str, leader: ToolDoc) -> bool:
    """The message names something `leader` takes: a URL for a tool that takes one, a folder for a
    tool that takes a path, a file named by its name ("server.log") for one that also speaks of
    files or folders (git_log takes the repository's path, not a file's)."""
    named = query_slots(whole)
    if "url" in named and "url" in leader.slots:
        return True
    if not named & {"path", "paths"} or not leader.slots & {"path", "paths"}:
        return False
    return bool(leader.kinds & _FILE_KINDS) or not names_file(whole)


# The actions of a tool that finds what was kept ("do you remember anything about hiking").
_LOOKS_UP = frozenset({"read", "list", "search"})


def spares(whole: str, ask: str, leader: ToolDoc) -> str | None:
    """Why the examples' no-tool doubts (the nearest taught requests, the classifier) do not apply
    to `leader`, or None: "fact", a fact given to keep ("remember that I'm flying to Oslo on the
    12th", near the taught reminders) for a tool that creates or writes; "recall", a question
    about what was kept (near the knowledge questions) for one that reads, lists or searches;
    "points", a path or URL it takes (`points_at`)."""
    if keeps_fact(ask) and leader.action in ("create", "write"):
        return "fact"
    if recalls(whole) and leader.action in _LOOKS_UP:
        return "recall"
    return "points" if points_at(whole, leader) else None


# "Create a new file or ...", "Create a new directory ...": a tool that makes a new thing.
_MAKES_NEW = re.compile(r"\s*(?:create|make)s? (?:a |an )?new\b", re.IGNORECASE)


def edits_in_place(doc: ToolDoc) -> bool:
    """The tool changes a thing that exists, keeping the rest of it: edit_file ("Make line-based
    edits to a text file"), add_observations ("... to existing entities"); not write_file, which
    overwrites, nor a tool that makes a new thing."""
    d = doc.spec.description
    if _OVERWRITES.search(d) or _MAKES_NEW.match(d):
        return False
    return doc.action == "write" or (doc.action in ("create", "delete") and only_existing(d))


def shares(doc: ToolDoc, text: str) -> bool:
    """The tool shares a term with `text` (its words or their thesaurus terms)."""
    return bool((set(tokens(text)) | set(terms_of(text))) & doc.terms)


def _speaks(doc: ToolDoc, program: str, command: str) -> bool:
    """The tool speaks of `program` and of its `command` (or a word spelt within two edits of it)."""
    if stem(program) not in doc.terms:
        return False
    parts = [stem(w) for w in command.split("-") if w]
    return all(any(p == t or (len(p) > 3 and _near(p, t)) for t in doc.terms) for p in parts)


def _near(a: str, b: str) -> bool:
    return abs(len(a) - len(b)) <= 2 and SequenceMatcher(None, a, b).ratio() >= 0.8


def one_file(ask: str) -> bool:
    """The step names one file by its name and nothing else to act on ("how big is db.sql.gz")."""
    return len(named_files(ask)) == 1 and "paths" not in query_slots(ask) and not query_many(ask)


# "make a new file", "create me an empty folder": the thing asked for does not exist yet
_NEW_THING = re.compile(r"\b(?:create|make|start)\s+(?:me\s+)?(?:an?\s+)?(?:new|fresh|empty|blank)\b", re.IGNORECASE)


def several_files(ask: str) -> bool:
    """The step names two files or more by their names ("read docker-compose.yml, .env.example and
    Dockerfile together"); a pattern ("*.test.ts") names none."""
    return len(named_files(_GLOB.sub(" ", ask))) >= 2


_GLOB = re.compile(r"\S*(?:\*|\?(?=[\w.]))\S*")  # "*.test.ts", "file?.txt"; not "b.py?"


def _changes(doc: ToolDoc) -> bool:
    return doc.action is not None and not reads(doc.action) and doc.action != "run"


def new_leader(
    ask: str, cands: Sequence[ToolDoc], order: Sequence[int], craft: frozenset[str]
) -> tuple[int | None, str]:
    """A candidate (index into `cands`) that should lead instead of `order[0]`, and why; or None.

    - "tell me a joke about time zones": a poem, story or joke asked for is the business of a
      tool that speaks of that kind; the first such among the top `_CRAFT_REACH` leads.
    - "list every entity and relation in your graph" led by create_relations: a command only
      to see something, or a question about how things are ("did I add insurance to 8MPL2D?";
      not one about what can be done: `retrieval_intent.asks_about`), is led by the first reading
      tool of the top `_LOOK_REACH`.
    - "save my staged work as a commit" led by git_diff_staged: a command that writes, moves or
      deletes is led by the first tool of the top `_LOOK_REACH` that does that kind of change.
    - "add Northwind as a company" led by add_observations ("... to existing entities"): a step
      that brings in something new is led by the first tool of the top `_LOOK_REACH` with the
      same action (create) that is not limited to what exists.
    - "remove the link between Priya and Atlas" led by create_relations: a command to delete led
      by a tool that creates (or the other way round) is led by the first tool of the top
      `_LOOK_REACH` that does what is asked; with none, the `contrary` veto holds.
    - "append buy milk to todo.txt" led by write_file, which overwrites: the first tool of the top
      `_ADD_REACH` that writes files and does not say it overwrites them leads.
    - "how big is backup.sql.gz" led by list_directory_with_sizes: a step about one named file, led
      by a tool made for many things at once, is led by the first of the top `_LOOK_REACH` that
      does the same kind of thing to one thing (get_file_info).
    - "make a new file /srv/shop/README.txt that says ..." led by edit_file: a thing asked for as
      new is led by the first of the top `_LOOK_REACH` of the same kind that makes or writes
      things without editing them in place (write_file).
    - "read docker-compose.yml, .env.example and Dockerfile together" led by read_text_file: a
      step that names several files, led by a tool that reads one, is led by the first of the top
      `_LOOK_REACH` that reads many (read_multiple_files).
    """
    if craft:
        hit = next(
            (i for i in order[:_CRAFT_REACH] if speaks_of(cands[i].spec.name, cands[i].spec.description, craft)),
            None,
        )
        return hit, f"it speaks of the {' or '.join(sorted(craft))} asked for"
    leader = cands[order[0]]
    if (looks(ask) or asks_about(ask)) and _changes(leader):
        hit = next((i for i in order[1:_LOOK_REACH] if reads(cands[i].action)), None)
        return hit, f"the step only asks to see something and {leader.spec.name} would change things"
    if leader.many and leader.kinds & _FILE_KINDS and one_file(ask):
        kin = family(leader.action)
        hit = next(
            (
                i
                for i in order[1:_LOOK_REACH]
                if not cands[i].many and cands[i].kinds & _FILE_KINDS and family(cands[i].action) == kin
            ),
            None,
        )
        if hit is not None:
            return hit, f"the step is about one file and {leader.spec.name} is made for many"
    if not leader.many and leader.kinds & _FILE_KINDS and reads(leader.action) and several_files(ask):
        kin = family(leader.action)
        hit = next(
            (
                i
                for i in order[1:_LOOK_REACH]
                if cands[i].many and cands[i].kinds & _FILE_KINDS and family(cands[i].action) == kin
            ),
            None,
        )
        if hit is not None:
            return hit, f"the step names several files and {leader.spec.name} reads one"
    if _NEW_THING.search(ask) and edits_in_place(leader):
        # "make a new file /srv/shop/README.txt that says ..." led by edit_file: a thing asked for
        # as new is made by a tool of the same kind that makes things, not one that edits them
        hit = next(
            (
                i
                for i in order[1:_LOOK_REACH]
                if family(cands[i].action) == "write" and not edits_in_place(cands[i]) and cands[i].kinds & leader.kinds
            ),
            None,
        )
        if hit is not None:
            return hit, f"the step asks for a new thing and {leader.spec.name} changes one that exists"
    if introduces(ask) and only_existing(leader.spec.description) and leader.action is not None:
        # the new thing is one thing ("add Northwind as a company"): not for a tool that links two
        fits = [i for i in order[1:_LOOK_REACH] if cands[i].action == leader.action]
        fits = [i for i in fits if not only_existing(cands[i].spec.description)]
        hit = next((i for i in fits if not links(cands[i].spec.description)), fits[0] if fits else None)
        return hit, f"the step brings in something new and {leader.spec.name} works only on what exists"
    if adds_to_file(ask) and _OVERWRITES.search(leader.spec.description):
        # "append buy milk to todo.txt" led by write_file ("... completely overwrite an existing
        # file"): the first tool of the top few that writes files without overwriting them leads
        hit = next(
            (
                i
                for i in order[1:_ADD_REACH]
                if cands[i].action == "write"  # changes what is there (edit_file), not create / add
                and "file" in cands[i].kinds
                and not _OVERWRITES.search(cands[i].spec.description)
            ),
            None,
        )
        if hit is not None:
            return hit, f"the step adds to a file and {leader.spec.name} would overwrite it"
    change = changes(ask)
    if change in _ALTERING and reads(leader.action):
        kin = family(change)  # deleting for "remove ...", writing for "save ..."
        adding = adds_to_file(ask)  # and never overwriting for "append ... to todo.txt"
        new = introduces(ask)  # and never one limited to what exists for "my supplier is called ..."
        hit = next(
            (
                i
                for i in order[1 : _ADD_REACH if adding else _LOOK_REACH]
                if family(cands[i].action) == kin
                and not (adding and _OVERWRITES.search(cands[i].spec.description))
                and not (new and only_existing(cands[i].spec.description))
            ),
            None,
        )
        return hit, f"the step asks to {change} something and {leader.spec.name} only reads"
    if {change, leader.action} == _OPPOSITE and change not in leader.actions:
        # "remove the entities X and Y from the knowledge graph" led by create_relations: the
        # first candidate of the top few that does what is asked leads (else the veto holds)
        hit = next((i for i in order[1:_LOOK_REACH] if cands[i].action == change), None)
        return hit, f"the step asks to {change} something and {leader.spec.name} would {leader.action} instead"
    return None, ""


@dataclass(frozen=True, slots=True)
class Vetoes:
    """Why the leader may not be trusted (each field one gate), and what the reasons name."""

    composing: bool = False
    explaining: bool = False
    chatting: bool = False
    unable: bool = False
    elsewhere: bool = False
    contrary: bool = False
    unsung: bool = False
    material: bool = False
    untimed: bool = False
    unsupported: str | None = None  # a named operation no candidate speaks of ("push")
    change: str | None = None  # the class of the ask's opening verb, when it changes something
    kinds: frozenset[str] = frozenset()  # the kinds of thing the ask changes (folder, file, ...)
    craft: frozenset[str] = frozenset()  # the kinds of made-up text asked for

    @property
    def any(self) -> bool:
        return (
            self.composing
            or self.explaining
            or self.chatting
            or self.unable
            or self.elsewhere
            or self.contrary
            or self.unsung
            or self.material
            or self.untimed
            or self.unsupported is not None
        )

    def reasons(self, leader: ToolDoc, moved: str = "") -> str:
        """The vetoes that hold, as the explanation's clauses (each ends in "; "); `moved`, why
        another candidate was moved to the lead, goes before the two about what the leader matches."""
        out = []
        if self.composing:
            out.append("the step asks for written content and names no file, path or URL")
        if self.explaining:
            out.append("the step asks for an explanation and names nothing a tool acts on")
        if self.chatting:
            out.append("the step is small talk (a greeting, thanks or farewell) and asks for nothing")
        if self.unsupported is not None:
            out.append(f"the step asks to {self.unsupported} and no candidate speaks of that")
        if self.unable:
            out.append(f"the step asks to {self.change} something and no candidate does that")
        elif self.elsewhere:
            what = (
                "only reads"
                if reads(leader.action)
                else f"works on no {' or '.join(sorted(self.kinds - leader.kinds))}"
            )
            out.append(f"the step asks to {self.change} a {' and a '.join(sorted(self.kinds))} and the leader {what}")
        elif self.contrary:
            out.append(f"the step asks to {self.change} something and the leader would {leader.action} instead")
        if self.unsung and not self.composing:
            out.append(
                f"the step asks for written text ({', '.join(sorted(self.craft))}) and the leader speaks of none"
            )
        if moved:
            out.append(moved)
        if self.material:
            out.append("the leader matches only the material given after the colon, not the instruction")
        if self.untimed:
            out.append("the leader matches only the words that say when, not what the step asks for")
        return "".join(f"{r}; " for r in out)


def vetoes(
    whole: str,
    ask: str,
    setting: bool,
    cands: Sequence[ToolDoc],
    leader: ToolDoc,
    static_leader: ToolDoc,
    craft: frozenset[str],
    moved_for_craft: bool,
) -> Vetoes:
    """The gates on `leader` (the ranked leader) for a message `whole` whose ask is `ask` (the
    whole message when `setting` is false). `static_leader` leads by the reranker alone (before
    the examples); `moved_for_craft`: `new_leader` found a tool that speaks of the text asked for."""
    # "set an alarm for 6:45am tomorrow" led by convert_time: a command whose words the leader
    # shares are only those that say when it should happen asks for something else
    whenless = errand(ask)
    if whenless is not None and setting:  # the errand is the ask's; what it is about may be in the setting
        whenless = without_when(whole)
    untimed = whenless is not None and not shares(leader, whenless)
    # "what's on TV tonight at 9" led by get_current_time: a tool about time does not answer a
    # request that only says when, unless it shares a word with the rest of it
    aside = when_aside(whole)
    untimed = untimed or (aside is not None and bool(leader.terms & _TIME_TERMS) and not shares(leader, aside))
    # "make a folder named reports" where every candidate only reads: no tool can do what is asked
    change = changes(ask)
    # "make a folder named reports" led by a tool that never speaks of folders (git_add), or by
    # one that only reads (git_show): not it
    kinds = changed_kinds(ask)
    # "delete old.log" led by delete_relations, or by git_log for the extension: a file named by
    # its name is a file as much as "the file old.log" is, for a leader that only reads or that
    # removes things without speaking of files (a tool named for the very operation may: "unstage
    # src/app.py" is git_reset's; one that runs commands may do anything: "remove timer.exe using
    # taskkill")
    verb = changed_file_verb(ask)
    if (
        verb is not None
        and "file" not in kinds
        and leader.action != "run"
        and (reads(leader.action) or (verb in _REMOVES and not leader.kinds & {"file", "folder"}))
    ):
        kinds |= {"file"}
    # "make this sound more polite: send me the report now" led by get_current_time: with
    # material given after a colon, the leader must answer the instruction, not the material
    told = instruction(whole)
    # "git push ~/code/shop to origin main" where no candidate speaks of pushing: a named
    # operation that none of them does (retrieval_commands.operation)
    named = operation(ask)
    unsupported = None if named is None or any(named[1] & c.terms for c in cands) else named[0]
    # "git cherry-pick 4f2a9c1", "docker ps": a program's subcommand that no candidate of that
    # program speaks of (a near spelling counts: "git stauts")
    sub = subcommand(ask) if unsupported is None else None
    if sub is not None and not any(_speaks(c, *sub) for c in cands):
        unsupported = f"{sub[0]} {sub[1]}"
    return Vetoes(
        # "write a haiku" asks for text in the reply, not for a file: a leader that stores files
        # is not trusted when the request composes content and names no file, path or URL
        composing=static_leader.stores and composes(whole),
        explaining=explains(whole),
        chatting=small_talk(whole),  # "thank you so much, that helped": nothing to act on
        unable=change is not None and only_reads(c.action for c in cands),
        elsewhere=bool(kinds) and (not kinds <= leader.kinds or reads(leader.action)),
        # "delete the file notes.txt" led by git_add: a command to delete is never given to a tool
        # that creates, nor one to create to a tool that deletes
        # ("remove ../old/draft.md" led by move_file, whose examples move drafts to old/)
        contrary=change not in leader.actions
        and (
            {change, leader.action} == _OPPOSITE
            or (change == "delete" and leader.action == "move" and not _PUTS.search(ask))
        ),
        # "compose a short song about time zones" led by convert_time: a poem, story or joke asked
        # for is a tool's only when the tool speaks of that kind (a jokes API for "tell me a joke")
        unsung=bool(craft) and not moved_for_craft,
        # ("save this: Alice's birthday is May 3" asks to keep the material: a tool that creates
        # or writes something is the one, whatever words it shares)
        material=told is not None
        and not (set(tokens(told)) & leader.terms)
        and not (_keeps(told) and leader.action in ("create", "write")),
        untimed=untimed,
        unsupported=unsupported,
        change=change,
        kinds=kinds,
        craft=craft,
    )
