"""A plain-Python reference model of the access rules (DESIGN.md, "Access rules"; the SQL
lives in shieldwall.intel.visibility). No SQL, no ORM: the property tests build a world of
these dataclasses next to the database rows and check every read path against it.

The rules, as stated:

- Events: site admins; the owner organisation (org) and the creator organisation (orgc);
  others when distribution is 1-3 and the event is not tagged tlp:red or tlp:amber+strict,
  or distribution is 4, their organisation is in the sharing group (directly, or through the
  group's local all-organisations server entry) and the event is not tagged
  tlp:amber+strict. With unpublished_private, others only see published events.
- Objects and attributes: the event is readable and (the reader's organisation owns the
  event, or their own distribution is 1, 2, 3 or 5, or 4 with membership). Attributes also
  pass the TLP guard (tlp:red readable by non-owners only when the attribute's distribution
  is 4, or 5 with the event's distribution 4; tlp:amber+strict never by non-owners) and,
  when in an object, the object's rule. Soft-deleted ones are hidden unless asked for, and
  then shown only to the owner organisation and site admins.
- Sightings: the attribute is readable and (policy "owner") the reader's organisation made
  the sighting or owns the event; (policy "reporters") that, or the reader's organisation
  reported a sighting on the event; (policy "host") that, or the host organisation made the
  sighting; (policy "event") any reader of the attribute.
- Sharing groups: visible to members and to the creating organisation.
- Tags: global ones to all, organisation-restricted ones to that organisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TLP_RED = "tlp:red"
TLP_AMBER_STRICT = "tlp:amber+strict"
SIGHTING_KINDS = {0: "sighting", 1: "false_positive", 2: "expiration"}


@dataclass(frozen=True)
class Reader:
    org_id: int
    site_admin: bool = False


@dataclass(frozen=True)
class Options:
    unpublished_private: bool = False
    sighting_policy: str = "owner"


@dataclass
class Tag:
    id: int
    name: str
    org_id: int | None = None


@dataclass
class SharingGroup:
    id: int
    org_id: int
    member_org_ids: set[int] = field(default_factory=set)
    # This instance's server entry (server_url None) with all_orgs set.
    all_local_orgs: bool = False


@dataclass
class Event:
    id: int
    org_id: int
    orgc_id: int
    distribution: int
    sharing_group_id: int | None
    published: bool
    tag_ids: set[int] = field(default_factory=set)


@dataclass
class Object:
    id: int
    event_id: int
    distribution: int
    sharing_group_id: int | None
    deleted: bool


@dataclass
class Attribute:
    id: int
    event_id: int
    object_id: int | None
    distribution: int
    sharing_group_id: int | None
    deleted: bool
    type: str
    tag_ids: set[int] = field(default_factory=set)


@dataclass
class Sighting:
    id: int
    attribute_id: int
    event_id: int
    org_id: int
    type: int


@dataclass
class World:
    tags: dict[int, Tag] = field(default_factory=dict)
    sharing_groups: dict[int, SharingGroup] = field(default_factory=dict)
    events: dict[int, Event] = field(default_factory=dict)
    objects: dict[int, Object] = field(default_factory=dict)
    attributes: dict[int, Attribute] = field(default_factory=dict)
    sightings: dict[int, Sighting] = field(default_factory=dict)
    host_org_id: int | None = None

    # ------------------------------------------------------------ building blocks

    def tlp_level(self, tag_ids: set[int]) -> str | None:
        """The strictest guarded marking among the tags (names compared case-insensitively)."""
        names = {self.tags[t].name.lower() for t in tag_ids}
        if TLP_AMBER_STRICT in names:
            return TLP_AMBER_STRICT
        if TLP_RED in names:
            return TLP_RED
        return None

    def is_member(self, org_id: int, sharing_group_id: int | None) -> bool:
        if sharing_group_id is None:
            return False
        sg = self.sharing_groups[sharing_group_id]
        return sg.all_local_orgs or org_id in sg.member_org_ids

    def _distribution_ok(
        self, reader: Reader, distribution: int, sharing_group_id: int | None
    ) -> bool:
        """An attribute's or object's own distribution (5 = as the event, already checked)."""
        if distribution in (1, 2, 3, 5):
            return True
        return distribution == 4 and self.is_member(reader.org_id, sharing_group_id)

    # ------------------------------------------------------------ the rules

    def event_readable(self, reader: Reader, e: Event, opts: Options) -> bool:
        if reader.site_admin:
            return True
        if reader.org_id in (e.org_id, e.orgc_id):
            return True
        if opts.unpublished_private and not e.published:
            return False
        level = self.tlp_level(e.tag_ids)
        if e.distribution in (1, 2, 3):
            return level is None
        if e.distribution == 4:
            return level != TLP_AMBER_STRICT and self.is_member(reader.org_id, e.sharing_group_id)
        return False

    def object_readable(
        self, reader: Reader, o: Object, opts: Options, include_deleted: bool = False
    ) -> bool:
        e = self.events[o.event_id]
        if not self.event_readable(reader, e, opts):
            return False
        owner = reader.site_admin or reader.org_id == e.org_id
        if o.deleted and not (include_deleted and owner):
            return False
        return owner or self._distribution_ok(reader, o.distribution, o.sharing_group_id)

    def attribute_readable(
        self, reader: Reader, a: Attribute, opts: Options, include_deleted: bool = False
    ) -> bool:
        e = self.events[a.event_id]
        if not self.event_readable(reader, e, opts):
            return False
        owner = reader.site_admin or reader.org_id == e.org_id
        if a.deleted and not (include_deleted and owner):
            return False
        if a.object_id is not None and not self.object_readable(
            reader, self.objects[a.object_id], opts, include_deleted
        ):
            return False
        if owner:
            return True
        if not self._distribution_ok(reader, a.distribution, a.sharing_group_id):
            return False
        level = self.tlp_level(a.tag_ids)
        if level == TLP_AMBER_STRICT:
            return False
        if level == TLP_RED:
            return a.distribution == 4 or (a.distribution == 5 and e.distribution == 4)
        return True

    def sighting_readable(self, reader: Reader, s: Sighting, opts: Options) -> bool:
        if not self.attribute_readable(reader, self.attributes[s.attribute_id], opts):
            return False
        if reader.site_admin or opts.sighting_policy == "event":
            return True
        if reader.org_id in (s.org_id, self.events[s.event_id].org_id):
            return True
        if opts.sighting_policy == "reporters":
            return any(
                o.event_id == s.event_id and o.org_id == reader.org_id
                for o in self.sightings.values()
            )
        if opts.sighting_policy == "host":
            return s.org_id == self.host_org_id
        return False

    def sharing_group_visible(self, reader: Reader, sg: SharingGroup) -> bool:
        return (
            reader.site_admin or sg.org_id == reader.org_id or self.is_member(reader.org_id, sg.id)
        )

    def tag_visible(self, reader: Reader, t: Tag) -> bool:
        return reader.site_admin or t.org_id is None or t.org_id == reader.org_id

    # ------------------------------------------------------------ what each read path returns

    def readable_events(self, reader: Reader, opts: Options) -> set[int]:
        return {e.id for e in self.events.values() if self.event_readable(reader, e, opts)}

    def readable_objects(
        self,
        reader: Reader,
        opts: Options,
        include_deleted: bool = False,
        event_id: int | None = None,
    ) -> set[int]:
        return {
            o.id
            for o in self.objects.values()
            if (event_id is None or o.event_id == event_id)
            and self.object_readable(reader, o, opts, include_deleted)
        }

    def readable_attributes(
        self,
        reader: Reader,
        opts: Options,
        include_deleted: bool = False,
        event_id: int | None = None,
        object_id: int | None = None,
    ) -> set[int]:
        return {
            a.id
            for a in self.attributes.values()
            if (event_id is None or a.event_id == event_id)
            and (object_id is None or a.object_id == object_id)
            and self.attribute_readable(reader, a, opts, include_deleted)
        }

    def readable_sightings(self, reader: Reader, opts: Options) -> set[int]:
        return {s.id for s in self.sightings.values() if self.sighting_readable(reader, s, opts)}

    def visible_sharing_groups(self, reader: Reader) -> set[int]:
        return {
            sg.id for sg in self.sharing_groups.values() if self.sharing_group_visible(reader, sg)
        }

    def visible_tag_names(self, reader: Reader, tag_ids: set[int]) -> set[str]:
        return {self.tags[t].name for t in tag_ids if self.tag_visible(reader, self.tags[t])}

    def sighting_counts(self, reader: Reader, opts: Options, attribute_id: int) -> dict[str, int]:
        counts = dict.fromkeys(SIGHTING_KINDS.values(), 0)
        for s in self.sightings.values():
            if s.attribute_id == attribute_id and self.sighting_readable(reader, s, opts):
                counts[SIGHTING_KINDS[s.type]] += 1
        return counts

    # ------------------------------------------------------------ search filters

    def events_with_attribute_type(self, reader: Reader, opts: Options, type_: str) -> set[int]:
        """search/events?type=...: readable events holding a readable attribute of the type."""
        return {
            a.event_id
            for a in self.attributes.values()
            if a.type == type_
            and self.event_readable(reader, self.events[a.event_id], opts)
            and self.attribute_readable(reader, a, opts)
        }

    def attributes_tagged(self, reader: Reader, opts: Options, tag_name: str) -> set[int]:
        """search/attributes?tags=...: readable attributes carrying the tag, on themselves or
        on their event (MISP), the tag being one the reader may see."""
        wanted = {
            t.id for t in self.tags.values() if t.name == tag_name and self.tag_visible(reader, t)
        }
        return {
            a.id
            for a in self.attributes.values()
            if (wanted & a.tag_ids or wanted & self.events[a.event_id].tag_ids)
            and self.attribute_readable(reader, a, opts)
        }
