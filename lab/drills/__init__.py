"""Swarm concept drills: `invoke lab.drill NAME`, one module per drill.

Each drill runs on the deployed app, prints the commands it types with the
node, asserts what should happen from the swarm's own answers, puts the lab
back (see journal.py), counts users and playlists before and after, and ends
with one line of what it showed. Texts a trainee reads are in texts.yaml.
"""
from __future__ import annotations

from . import drain, node_loss, overlay, promote, rolling_update, scale, task_states

DRILLS = {m.NAME: m for m in (drain, promote, node_loss, scale, rolling_update, task_states, overlay)}
