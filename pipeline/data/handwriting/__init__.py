"""Handwriting data: fixed-length pen-trajectory windows with per-step character labels.

A step is x_t = (dx, dy, pen, eoc): the pen's displacement from the previous point (y up),
pen = 1 where the pen lifts after the point, eoc = 1 on a character's last point.  Its label
y_t indexes ALPHABET (0 = no character, e.g. travel between words; -1 = unknown).

The modules (this file imports none, so a stage's code closure holds only those it uses):
  text         ALPHABET, text to labels and back, the sentence grammar, FIG4_TEXT
  strokes      steps from points, fixed-length windows, standardisation, ink polylines
  hershey      pen trajectories from the Hershey stroke fonts, with writer styles; render_text: one text as steps
  sources      prepare(source, ...): standardised windows, the same arrays from every source:
    embedded     rendered offline from the Hershey fonts in many writer styles; exact labels
    deepwriting  the Deep-Writing release (character-aligned IAM-OnDB), local npz files
    iamondb      raw IAM-OnDB lineStrokes XML + transcriptions; unlabelled (y = -1, eoc = 0)
  common       what those three share: settings as whole numbers, the split arrays, capped shuffles
"""
