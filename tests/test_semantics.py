"""Tests of flowseg.stages.semantics: target names, model choice, and the no-weights fallbacks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from flowseg.errors import ConfigError, UnknownTargetError, WeightsError
from flowseg.models import WEIGHTS
from flowseg.stages.semantics import VOC_CLASSES, SemanticSegmenter, resolve_targets
from flowseg.types import Frame
from synthetic import texture

CLASS_LIST = ", ".join(VOC_CLASSES[1:])


class TestResolveTargets:
    def test_misspelt_target_names_the_closest_class_and_lists_all(self) -> None:
        expected = f"unknown target class 'persn' (did you mean 'person'?); valid classes: {CLASS_LIST}"
        with pytest.raises(UnknownTargetError, match=re.escape(expected)):
            resolve_targets("persn")

    def test_stage_refuses_a_misspelt_target(self) -> None:
        with pytest.raises(UnknownTargetError, match=r"did you mean 'person'\?"):
            SemanticSegmenter(target="persn")

    @pytest.mark.parametrize(
        ("target", "expected"),
        [
            pytest.param("person", (15,), id="one"),
            pytest.param("person,horse", (15, 13), id="comma-separated"),
            pytest.param(["Dog", " cat "], (12, 8), id="list/case-and-spaces"),
        ],
    )
    def test_targets_resolve_in_order(self, target: str | list[str], expected: tuple[int, ...]) -> None:
        assert resolve_targets(target) == expected

    def test_no_target_is_refused(self) -> None:
        with pytest.raises(UnknownTargetError, match=r"no target class given; name one of: aeroplane, bicycle"):
            resolve_targets(" , ")


class TestModelChoice:
    def test_auto_without_weights_uses_the_embedded_person_model(self, no_weights) -> None:
        segmenter = SemanticSegmenter(target="person", model="auto")
        assert segmenter.model_used.startswith("selfie")
        image = texture((48, 64), seed=0)
        prob = segmenter.process(Frame(index=0, image=image))["evidence"]
        assert prob.shape == (48, 64) and prob.dtype == np.float32
        assert prob.min() >= 0.0 and prob.max() <= 1.0

    def test_other_target_without_weights_says_which_file_and_where(self, no_weights: tuple[Path, Path]) -> None:
        weights_dir, checkpoints = no_weights
        spec = WEIGHTS["deeplabv3_mobilenet_v3_large"]
        with pytest.raises(WeightsError, match=r"target dog needs DeepLabV3 weights") as info:
            SemanticSegmenter(target="dog")
        message = str(info.value)
        for part in (spec.filename, spec.url, str(weights_dir), str(checkpoints), "FLOWSEG_WEIGHTS_DIR"):
            assert part in message, f"{part!r} missing from: {message}"

    def test_person_model_refuses_other_targets(self) -> None:
        with pytest.raises(UnknownTargetError, match=r"'selfie'\) only segments the target 'person'"):
            SemanticSegmenter(target="person,horse", model="selfie")

    def test_unknown_model_names_the_closest(self) -> None:
        expected = r"unknown model 'selfy' \(did you mean 'selfie'\?\); valid models: auto, deeplabv3_mobilenet"
        with pytest.raises(ConfigError, match=expected):
            SemanticSegmenter(target="person", model="selfy")
