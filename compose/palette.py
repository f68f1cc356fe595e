"""The email's colours: derived from the branding and checked for WCAG contrast."""

from __future__ import annotations

import dataclasses

from compose.config import Branding

MIN_CONTRAST = 4.5  # WCAG AA for body text


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def _hex(rgb: tuple[float, ...]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(channel))):02x}" for channel in rgb)


def _luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _rgb(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1.0 to 21.0)."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _mix(colour: str, other: str, share: float) -> str:
    a, b = _rgb(colour), _rgb(other)
    return _hex(tuple(x + (y - x) * share for x, y in zip(a, b, strict=True)))


def readable(foreground: str, background: str, minimum: float = MIN_CONTRAST) -> str:
    """`foreground`, moved towards black or white just enough to reach `minimum` contrast."""
    if contrast_ratio(foreground, background) >= minimum:
        return foreground.lower()
    target = "#000000" if _luminance(background) > 0.18 else "#ffffff"
    for step in range(1, 21):
        candidate = _mix(foreground, target, step / 20)
        if contrast_ratio(candidate, background) >= minimum:
            return candidate
    return target


@dataclasses.dataclass(frozen=True)
class Palette:
    """Every colour the email uses, derived from the branding and checked for contrast."""

    primary: str
    on_primary: str
    on_primary_muted: str
    accent: str
    accent_text: str
    text: str
    heading: str
    link: str
    muted: str
    background: str
    surface: str
    footer_text: str
    rule: str
    font: str

    @classmethod
    def from_branding(cls, branding: Branding) -> Palette:
        """The light palette from the configured brand colours, each text colour adjusted until it is readable."""
        surface = "#ffffff"
        primary, text, background = branding.primary_colour, branding.text_colour, branding.background_colour
        on_primary = readable("#ffffff", primary)
        return cls(
            primary=primary.lower(),
            on_primary=on_primary,
            on_primary_muted=readable(_mix(on_primary, primary, 0.2), primary),
            accent=branding.accent_colour.lower(),
            accent_text=readable(branding.accent_colour, surface),
            text=readable(text, surface),
            heading=readable(primary, surface),
            link=readable(primary, surface),
            muted=readable(_mix(text, surface, 0.3), surface),
            background=background.lower(),
            surface=surface,
            footer_text=readable(_mix(text, background, 0.25), background),
            rule=_mix(background, text, 0.1),
            font=branding.font_family,
        )

    def warnings(self, branding: Branding) -> list[str]:
        """Branding colours that had to be adjusted to stay readable."""
        notes = []
        if self.text != branding.text_colour.lower():
            notes.append(f"branding.text_colour {branding.text_colour} is too light on white; used {self.text}")
        if self.link != branding.primary_colour.lower():
            notes.append(f"branding.primary_colour {branding.primary_colour} is too light for links; used {self.link}")
        return notes


DARK_BACKGROUND = "#121417"
DARK_SURFACE = "#1d2026"
DARK_TEXT = "#e6e8eb"


@dataclasses.dataclass(frozen=True)
class DarkPalette:
    """The colours of the email for readers who prefer a dark scheme (`prefers-color-scheme: dark`,
    and Outlook.com's `[data-ogsc]`/`[data-ogsb]`): dark surfaces, light text, the brand's colours
    lightened until they reach WCAG AA on them. The masthead keeps the brand's own colours."""

    background: str
    surface: str
    text: str
    heading: str
    link: str
    muted: str
    accent_text: str
    footer_text: str
    rule: str

    @classmethod
    def from_branding(cls, branding: Branding) -> DarkPalette:
        """The dark palette, with the brand's colours lightened until they are readable on it."""
        surface, background = DARK_SURFACE, DARK_BACKGROUND
        text = readable(DARK_TEXT, surface)
        return cls(
            background=background,
            surface=surface,
            text=text,
            heading=readable(_mix(branding.primary_colour, "#ffffff", 0.55), surface),
            link=readable(_mix(branding.primary_colour, "#ffffff", 0.6), surface),
            muted=readable(_mix(text, surface, 0.3), surface),
            accent_text=readable(branding.accent_colour, surface),
            footer_text=readable(_mix(text, background, 0.25), background),
            rule=_mix(surface, text, 0.15),
        )
