"""Semi-supervised mode: the object appearance stage and the pipeline following one given object."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from flowseg import MaskError, Pipeline, ShapeError, StageOrderError
from flowseg.metrics import region_similarity
from flowseg.stages import ColourModel, LocalColourModel, MaskRefiner, ObjectAppearance, regions_apart, spatial_prior
from flowseg.stages.appearance import SPECK_REACH, prior_anchor
from flowseg.types import Frame, StageOutput

from davis_clips import davis_clip
from synthetic import object_mask, soft_prob, texture

SHAPE = (96, 160)


def two_objects_clip(n_frames: int, *, occlude: tuple[int, int] | None = None):
    """Two look-alike textured squares on a textured background: A moves right 3 px a frame, B stays.

    With ``occlude=(first, last)`` a grey bar hides the middle third of A's
    path from frame `first` to `last` (inclusive).

    Returns frames, A's true masks and B's mask.
    """
    h, w = SHAPE
    background = texture(SHAPE, seed=0, low=0, high=120)
    skin = texture(SHAPE, seed=1, low=135, high=255)
    b_mask = object_mask(SHAPE, (w - 22, 22), 26)
    frames, a_masks = [], []
    for t in range(n_frames):
        a_mask = object_mask(SHAPE, (30 + 3 * t, h / 2 + 10), 30)
        frame = background.copy()
        frame[b_mask] = skin[b_mask]
        moved = np.roll(skin, 3 * t, axis=1)
        frame[a_mask] = moved[a_mask]
        if occlude is not None and occlude[0] <= t <= occlude[1]:
            bar = np.zeros(SHAPE, bool)
            bar[:, 30 + 3 * t - 5 : 30 + 3 * t + 5] = True
            frame[bar] = 128
            a_mask = a_mask & ~bar
        frames.append(frame)
        a_masks.append(a_mask)
    return frames, a_masks, b_mask


class StandInModel:
    """A stand-in semantic stage whose class evidence is a soft version of the given mask of each frame."""

    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ("evidence",)

    def __init__(self, finds: list[np.ndarray]) -> None:
        self.finds = finds

    def process(self, frame: Frame) -> StageOutput:
        return {"evidence": soft_prob(self.finds[frame.index], blur=1.0, noise=0.05, seed=0)}

    def reset(self) -> None:
        """Stateless."""


def object_pipeline(a_masks, b_mask) -> Pipeline:
    """The class evidence covers both look-alikes (A's true mask and B)."""
    return Pipeline(["flow", StandInModel([a_mask | b_mask for a_mask in a_masks]), "warp", "refine"])


class TestColourModel:
    def test_posterior_separates_the_colours_it_was_fitted_on(self) -> None:
        image = np.zeros((10, 20, 3), np.uint8)
        image[:, :10] = (200, 30, 30)
        image[:, 10:] = (20, 90, 200)
        obj = np.zeros((10, 20), bool)
        obj[:, :10] = True
        posterior = ColourModel().fit(image, obj, ~obj).posterior(image)
        assert posterior.dtype == np.float32 and posterior.shape == (10, 20)
        assert posterior[:, :10].min() > 0.95 and posterior[:, 10:].max() < 0.05

    def test_unseen_colour_is_undecided(self) -> None:
        image = np.zeros((4, 4, 3), np.uint8)
        obj = np.zeros((4, 4), bool)
        obj[:2] = True
        model = ColourModel().fit(image, obj, ~obj)
        assert model.posterior(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(0.5)

    def test_needs_fitting_and_sane_bins(self) -> None:
        with pytest.raises(RuntimeError, match="used before fit"):
            ColourModel().posterior(np.zeros((2, 2, 3), np.uint8))
        with pytest.raises(ValueError, match="bins is 10; expected a power of two"):
            ColourModel(bins=10)


class TestLocalColourModel:
    @staticmethod
    def dark_object_by_dark_water() -> tuple[np.ndarray, np.ndarray]:
        """A dark object (left) and dark background of the same colours (right), on a light background."""
        image = np.full((48, 128, 3), 220, np.uint8)
        dark = texture((48, 128), seed=4, low=10, high=40)
        image[8:40, 8:40] = dark[8:40, 8:40]
        image[8:40, 88:120] = dark[8:40, 88:120]
        mask = np.zeros((48, 128), bool)
        mask[8:40, 8:40] = True
        return image, mask

    def test_same_colours_are_object_in_one_place_and_background_in_another(self) -> None:
        image, mask = self.dark_object_by_dark_water()
        undecided = np.full(mask.shape, 0.5, np.float32)
        local = LocalColourModel(cell=8).fit(image, mask).posterior(image, undecided)
        whole = ColourModel().fit(image, mask, ~mask).posterior(image)
        assert local[12:36, 12:36].mean() > 0.95 and local[12:36, 92:116].mean() < 0.05
        assert whole[12:36, 92:116].mean() > 0.4  # one histogram for the frame cannot tell them apart

    def test_reads_each_pixel_where_the_flow_says_it_was(self) -> None:
        image, mask = self.dark_object_by_dark_water()
        moved = np.roll(image, 12, axis=1)  # everything 12 px to the right
        flow_bwd = np.zeros((*mask.shape, 2), np.float32)
        flow_bwd[..., 0] = -12
        undecided = np.full(mask.shape, 0.5, np.float32)
        local = LocalColourModel(cell=8).fit(image, mask).posterior(moved, undecided, flow_bwd)
        assert local[12:36, 24:48].mean() > 0.95 and local[12:36, 104:124].mean() < 0.05

    def test_a_model_that_moves_with_its_object_labels_where_the_object_went(self) -> None:
        image = np.full((48, 128, 3), 220, np.uint8)
        dark = texture((48, 128), seed=4, low=10, high=40)
        image[8:40, 8:56] = dark[8:40, 8:56]  # the object (8-40) and, beside it, background of its colours
        mask = np.zeros((48, 128), bool)
        mask[8:40, 8:40] = True
        model = LocalColourModel(cell=8).fit(image, mask, (slice(0, 48), slice(0, 64)))
        moved = np.roll(image, 40, axis=1)  # both 40 px to the right
        to_fitted = np.array([[1.0, 0.0, -40.0], [0.0, 1.0, 0.0]])  # each pixel now was 40 px to its left
        undecided = np.full(mask.shape, 0.5, np.float32)
        local = model.posterior(moved, undecided, motion=to_fitted)
        assert local[12:36, 48:72].mean() > 0.85 and local[12:36, 88:96].mean() < 0.1
        np.testing.assert_array_equal(local[:, :40], undecided[:, :40])  # outside the moved region: the prior

    def test_outside_its_region_the_prior_decides(self) -> None:
        image, mask = self.dark_object_by_dark_water()
        prior = np.full(mask.shape, 0.3, np.float32)
        local = LocalColourModel(cell=8).fit(image, mask, (slice(0, 48), slice(0, 64))).posterior(image, prior)
        assert local[12:36, 12:36].mean() > 0.9
        np.testing.assert_array_equal(local[:, 64:], prior[:, 64:])

    def test_needs_fitting_and_a_cell(self) -> None:
        with pytest.raises(RuntimeError, match="used before fit"):
            LocalColourModel(cell=4).posterior(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.float32))
        with pytest.raises(ValueError, match="cell is 0; expected at least 1 pixel"):
            LocalColourModel(cell=0)
        with pytest.raises(ValueError, match="local_weight is 2; expected a value in"):
            ObjectAppearance(local_weight=2)


class TestSpatialPrior:
    def test_falls_off_with_distance(self) -> None:
        mask = np.zeros((1, 7), bool)
        mask[0, 3] = True
        prior = spatial_prior(mask, sigma=2.0)
        assert prior[0, 3] == 1.0
        assert prior[0, 1] == pytest.approx(np.exp(-1 / 2), abs=1e-3) == pytest.approx(prior[0, 5], abs=1e-3)

    @pytest.mark.parametrize("side", [2, 200], ids=["tiny", "large"])
    def test_wide_prior_on_a_coarse_grid_stays_close(self, side: int) -> None:
        """sigma = 40 is computed on a 8x coarser grid: within 0.06 of the exact Gaussian, even for a 2 px mask."""
        mask = np.zeros((480, 854), bool)
        mask[100 : 100 + side, 200 : 200 + side] = True
        prior = spatial_prior(mask, sigma=40.0)
        for distance in (0, 40, 80):
            exact = np.exp(-(distance**2) / (2 * 40.0**2))
            assert prior[100 + side // 2, 200 + side - 1 + distance] == pytest.approx(exact, abs=0.06), distance

    def test_empty_mask_allows_everywhere(self) -> None:
        assert (spatial_prior(np.zeros((3, 4), bool), sigma=1.0) == 1).all()

    def test_bad_sigma(self) -> None:
        with pytest.raises(ValueError, match="sigma is 0; expected a positive number of pixels"):
            spatial_prior(np.ones((2, 2), bool), sigma=0)


class TestFollowOneObject:
    def test_look_alike_of_the_same_class_stays_background(self) -> None:
        frames, a_masks, b_mask = two_objects_clip(12)
        results = object_pipeline(a_masks, b_mask).run(frames, init_mask=a_masks[0])
        ious = [region_similarity(r.mask, m) for r, m in zip(results, a_masks)]
        assert min(ious) > 0.85, ious
        assert max(int((r.mask & b_mask).sum()) for r in results) == 0

    def test_without_the_mask_the_class_finds_both(self) -> None:
        """The same stages in target mode: the contrast that makes the test above meaningful."""
        frames, a_masks, b_mask = two_objects_clip(4)
        results = object_pipeline(a_masks, b_mask).run(frames)
        assert results[-1].mask[b_mask].mean() > 0.9

    def test_recovers_after_a_partial_occlusion(self) -> None:
        frames, a_masks, b_mask = two_objects_clip(16, occlude=(4, 8))
        results = object_pipeline(a_masks, b_mask).run(frames, init_mask=a_masks[0])
        hidden = [region_similarity(r.mask, m) for r, m in zip(results[4:9], a_masks[4:9])]
        after = [region_similarity(r.mask, m) for r, m in zip(results[10:], a_masks[10:])]
        assert min(hidden) > 0.6, hidden
        assert min(after) > 0.85, after

    def test_colour_alone_without_a_semantic_model(self) -> None:
        frames, a_masks, b_mask = two_objects_clip(10)
        pipeline = Pipeline(["flow", ObjectAppearance(), "warp", MaskRefiner()])
        results = pipeline.run(frames, init_mask=a_masks[0])
        assert min(region_similarity(r.mask, m) for r, m in zip(results, a_masks)) > 0.8

    def test_init_frame_later_in_the_video(self) -> None:
        frames, a_masks, b_mask = two_objects_clip(8)
        pipeline = object_pipeline(a_masks, b_mask)
        results = pipeline.run(frames, init_mask=a_masks[3], init_frame=3)
        assert np.array_equal(results[3].mask, a_masks[3])
        # Measured: IoU 0.987, 1.0, 1.0 on frames 0-2 (followed backwards from frame 3), 1.0 after it.
        assert min(region_similarity(r.mask, m) for r, m in zip(results, a_masks)) > 0.85
        forward_only = pipeline.run(frames, init_mask=a_masks[3], init_frame=3, two_pass=False)
        assert not any(r.mask.any() for r in forward_only[:3])

    def test_the_same_pipeline_serves_both_modes(self) -> None:
        frames, a_masks, b_mask = two_objects_clip(4)
        pipeline = object_pipeline(a_masks, b_mask)
        followed = pipeline.run(frames, init_mask=a_masks[0])
        targeted = pipeline.run(frames)
        assert not followed[-1].mask[b_mask].any() and targeted[-1].mask[b_mask].all()


def jostled_clip(n_frames: int):
    """Object A moves right 3 px a frame for 8 frames, then stays; look-alike B jumps about beside it, touching it.

    B has A's colours but new texture every frame, so the flow cannot follow
    it. Returns frames, A's true masks and B's masks.
    """
    h, w = SHAPE
    background = texture(SHAPE, seed=0, low=0, high=120)
    skin = texture(SHAPE, seed=1, low=135, high=255)
    frames, a_masks, b_masks = [], [], []
    for t in range(n_frames):
        x = 40 + 3 * min(t, 8)
        a_mask = object_mask(SHAPE, (x, h / 2), 30)
        b_mask = object_mask(SHAPE, (x + 26 + 8 * ((7 * t) % 3 - 1), h / 2 + 8 * ((5 * t) % 3 - 1)), 28) & ~a_mask
        frame = background.copy()
        frame[b_mask] = texture(SHAPE, seed=10 + t, low=135, high=255)[b_mask]
        frame[a_mask] = np.roll(skin, 3 * t, axis=1)[a_mask]
        frames.append(frame)
        a_masks.append(a_mask)
        b_masks.append(b_mask)
    return frames, a_masks, b_masks


def test_what_the_model_finds_beside_an_unrecognised_object_stays_background() -> None:
    """A dog the person model does not know, a person of its colours playing with it: she stays out of its mask."""
    frames, a_masks, b_masks = jostled_clip(16)

    def follow(semantics) -> tuple[list[float], list[int]]:
        results = Pipeline(["flow", ObjectAppearance(semantics), "warp", "refine"]).run(frames, init_mask=a_masks[0])
        return ([region_similarity(r.mask, m) for r, m in zip(results, a_masks)],
                [int((r.mask & m).sum()) for r, m in zip(results, b_masks)])  # fmt: skip

    # Measured: colours alone, J down to 0.53 and up to 729 pixels of B; with the model, J >= 0.94, <= 20 pixels.
    (ious, on_b), (ious_alone, on_b_alone) = follow(StandInModel(b_masks)), follow(None)
    assert min(ious) > 0.9 and max(on_b) < 60, (ious, on_b)
    assert min(ious_alone) < 0.7 and max(on_b_alone) > 300, (ious_alone, on_b_alone)


def test_an_object_the_model_comes_to_find_is_not_taken_for_another() -> None:
    """Unseen by the model at first, A is found from frame 3 as a blob twice its size: A keeps its mask."""
    frames, a_masks, b_mask = two_objects_clip(12)
    blobs = [cv2.dilate(m.view(np.uint8), np.ones((25, 25), np.uint8)) > 0 for m in a_masks]  # mostly beyond A
    finds = [b_mask | blob if t >= 3 else b_mask for t, blob in enumerate(blobs)]
    results = Pipeline(["flow", ObjectAppearance(StandInModel(finds)), "warp", "refine"]).run(
        frames, init_mask=a_masks[0]
    )
    ious = [region_similarity(r.mask, m) for r, m in zip(results, a_masks)]
    # Measured: J >= 0.87 in every frame; taking the blob for another object shrinks A to J 0.43.
    assert min(ious) > 0.85, ious


def test_an_object_the_model_sees_only_as_part_of_a_larger_find_is_not_its_class() -> None:
    """The stand-in model finds A within a region over ten times its size (as the person model finds a ball in a
    hand): A is not taken for that class, and the region beyond A stays out of its mask."""
    frames, a_masks, b_mask = two_objects_clip(10)
    holder = [cv2.dilate(m.view(np.uint8), np.ones((61, 121), np.uint8)) > 0 for m in a_masks]
    assert max(m.sum() / h.sum() for m, h in zip(a_masks, holder)) < 0.1
    for whole, finds in ((True, a_masks), (False, holder)):
        appearance = ObjectAppearance(StandInModel(finds))
        results = Pipeline(["flow", appearance, "warp", "refine"]).run(frames, init_mask=a_masks[0])
        assert bool(appearance.object_classes) is whole
        assert min(region_similarity(r.mask, m) for r, m in zip(results, a_masks)) > 0.8


def test_a_ball_in_a_jugglers_hand_is_followed_as_a_ball() -> None:
    """examples/juggle.mp4 (72 frames, 480x270) from a box around the ball: the mask stays on the white ball.

    Measured: the mask's area stays within 0.8 to 2.1 times the first (929 pixels) and its mean grey level at 190
    or more; when the person model's finding the ball in the juggler's region made it a "person", the mask spread
    over his trousers (area 9.8 times the first by the end, mean grey level down to 71).
    """
    from flowseg import Prompt, mask_from_prompt
    from flowseg.io import FrameSource

    frames = [image for _, image in FrameSource(Path(__file__).resolve().parents[1] / "examples" / "juggle.mp4")]
    first = mask_from_prompt(frames[0], Prompt(box=(219, 180, 252, 215)), neighbour=frames[1])
    results = Pipeline().run(frames, init_mask=first)
    areas = [int(r.mask.sum()) for r in results]
    grey = [float(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[r.mask].mean()) for f, r in zip(frames, results) if r.mask.any()]
    assert len(frames) == 72 and 700 < areas[0] < 1200
    assert max(areas) < 3 * areas[0] and min(areas) > 0.5 * areas[0], areas
    assert min(grey) > 150, grey


def test_regions_apart() -> None:
    detected = np.zeros((8, 12), bool)
    detected[1:4, 1:4] = detected[5:8, 8:12] = detected[1:3, 8:11] = True
    where = np.zeros((8, 12), bool)
    where[0:4, 0:3] = True  # covers 6 of the first region's 9 pixels
    where[1:2, 8:9] = True  # 1 of the third region's 6
    assert np.array_equal(regions_apart(detected, where), detected & (np.arange(12) >= 8))
    assert np.array_equal(regions_apart(detected, np.zeros_like(where)), detected)


def test_the_prior_does_not_fall_off_around_far_specks() -> None:
    """Specks far from the object's larger parts anchor no prior; specks near them, and larger parts, do."""
    mask = np.zeros((120, 200), bool)
    mask[40:80, 20:60] = True  # the object: 1600 px
    mask[40:80, 100:108] = True  # a part apart from it (a limb behind a pole): 320 px
    mask[60:62, 66:68] = True  # a speck beside it (4 px, 6 px away)
    mask[60:62, 180:182] = True  # a speck far from both (72 px from the limb)
    sigma = 10.0
    anchor = prior_anchor(mask, sigma)
    far = np.zeros_like(mask)
    far[60:62, 180:182] = True
    assert np.array_equal(anchor, mask & ~far)
    assert 72 > SPECK_REACH * sigma
    specks = np.zeros((40, 40), bool)
    specks[::8, ::8] = True  # nothing but specks, all alike: none of them is far from the others
    assert np.array_equal(prior_anchor(specks, 4.0), specks)


def test_a_box_mask_on_rippled_water_stays_on_its_duck(davis_root: Path) -> None:
    """mallard-water from the box's mask, which takes in a little dark water: specks of the rippled water around
    the duck walked out a fall-off a frame and grew into the water 300 px away (J 0.43 at frame 60); 0.81 now."""
    from flowseg import Prompt, mask_from_prompt

    frames, truths = davis_clip(davis_root, "mallard-water", 61)
    rows, cols = np.nonzero(truths[0])
    first = mask_from_prompt(frames[0], Prompt(box=(cols.min(), rows.min(), cols.max(), rows.max())),
                             neighbour=frames[1])
    last = None
    for last in Pipeline().stream(frames, init_mask=first):
        pass
    assert region_similarity(last.mask, truths[60]) > 0.7


class TestBadInitMask:
    def test_empty(self) -> None:
        frames, _, _ = two_objects_clip(2)
        with pytest.raises(MaskError, match="init_mask is empty"):
            Pipeline().run(frames, init_mask=np.zeros(SHAPE, bool))

    def test_wrong_size(self) -> None:
        frames, _, _ = two_objects_clip(2)
        with pytest.raises(ShapeError, match=r"init_mask is 80x48 \(WxH\) but the frames are 160x96"):
            Pipeline().run(frames, init_mask=np.ones((48, 80), bool))

    def test_not_2d(self) -> None:
        frames, _, _ = two_objects_clip(2)
        with pytest.raises(ShapeError, match=r"init_mask has shape \(96, 160, 3\); expected \(H, W\)"):
            Pipeline().run(frames, init_mask=np.ones((*SHAPE, 3), bool))

    def test_init_frame_past_the_end(self) -> None:
        frames, a_masks, _ = two_objects_clip(3)
        with pytest.raises(MaskError, match="init_frame is 5 but the video has 3 frames"):
            Pipeline().run(frames, init_mask=a_masks[0], init_frame=5)

    def test_pipeline_without_evidence_stage(self) -> None:
        from flowseg.stages import FlowEstimator, MaskWarper

        class Constant:
            requires: tuple[str, ...] = ()
            provides: tuple[str, ...] = ("prob",)

            def process(self, frame: Frame) -> StageOutput:
                return {"prob": np.zeros(frame.image.shape[:2], np.float32)}

            def reset(self) -> None:
                """Stateless."""

        pipeline = Pipeline([FlowEstimator(), Constant(), MaskRefiner()])
        frames, a_masks, _ = two_objects_clip(2)
        assert MaskWarper  # the usual evidence consumer is absent here on purpose
        with pytest.raises(StageOrderError, match="replaces the stage that provides 'evidence'; this pipeline has no"):
            pipeline.run(frames, init_mask=a_masks[0])


def test_follows_the_dog_on_davis(davis_root: Path) -> None:
    """Real frames, no class model for dogs: the first 20 frames of DAVIS 'dog' from its first mask."""
    frames, truths = davis_clip(davis_root, "dog", 20)
    results = Pipeline().run(frames, init_mask=truths[0])
    ious = [region_similarity(r.mask, t) for r, t in zip(results[1:], truths[1:])]
    copied = [region_similarity(truths[0], t) for t in truths[1:]]
    # Measured: mean J 0.838, lowest 0.720 over frames 1-19 (copying the first mask: 0.432 and 0.301).
    # The bounds leave room for small numeric differences between machines, not for losing the dog.
    assert np.mean(ious) > 0.78 and min(ious) > 0.6, ious
    assert np.mean(ious) > np.mean(copied) + 0.3


def test_local_colours_keep_the_camel_off_the_sand(davis_root: Path) -> None:
    """DAVIS 'camel': a sand-coloured camel on sand, the case the local colour model is for (frames 0-29)."""
    frames, truths = davis_clip(davis_root, "camel", 30)

    def mean_iou(local_weight: float) -> float:
        appearance = ObjectAppearance(local_weight=local_weight, use_motion=False)  # the colours alone
        results = Pipeline(["flow", appearance, "warp", "refine"]).run(frames, init_mask=truths[0])
        return float(np.mean([region_similarity(r.mask, t) for r, t in zip(results[1:], truths[1:])]))

    # Measured over frames 1-29: mean J 0.903 with the local model, 0.770 without (the sand joins the camel).
    with_local, without = mean_iou(0.5), mean_iou(0.0)
    assert with_local > 0.86 and with_local > without + 0.08, (with_local, without)


def test_motion_keeps_the_car_off_the_road(davis_root: Path) -> None:
    """DAVIS 'car-roundabout' (frames 0-39): a grey car before grey buildings and road; it moves, they do not."""
    frames, truths = davis_clip(davis_root, "car-roundabout", 40)

    def mean_iou(use_motion: bool) -> float:
        appearance = ObjectAppearance(use_motion=use_motion)
        results = Pipeline(["flow", appearance, "warp", "refine"]).run(frames, init_mask=truths[0])
        return float(np.mean([region_similarity(r.mask, t) for r, t in zip(results[1:], truths[1:])]))

    # Measured over frames 1-39: mean J 0.862 with the motion cue, 0.722 without.
    with_motion, without = mean_iou(True), mean_iou(False)
    assert with_motion > 0.82 and with_motion > without + 0.08, (with_motion, without)


def test_a_reflection_moving_with_the_boat_stays_out_of_its_mask(davis_root: Path) -> None:
    """DAVIS 'boat' (frames 0-29): its reflection in the water has its colours and moves with it, so neither the
    colours nor the motion tell them apart; what surrounded each part of the boat where it was given does."""
    frames, truths = davis_clip(davis_root, "boat", 30)

    def run(surroundings: bool) -> tuple[float, float]:
        appearance = ObjectAppearance(surroundings=surroundings)
        results = Pipeline(["flow", appearance, "warp", "refine"]).run(frames, init_mask=truths[0])
        last, truth = results[-1].mask, truths[-1]
        below = np.count_nonzero(last[np.flatnonzero(truth.any(axis=1))[-1] + 1:]) / np.count_nonzero(truth)
        return float(np.mean([region_similarity(r.mask, t) for r, t in zip(results[1:], truths[1:])])), below

    # Measured: mean J over frames 1-29 0.679 with the surroundings, 0.631 without; on frame 29 the mask below the
    # boat (the reflection) covers 0.45 of the boat's area with them, 0.75 without.
    (with_j, with_below), (without_j, without_below) = run(True), run(False)
    assert with_j > without_j + 0.03, (with_j, without_j)
    assert with_below < 0.7 * without_below, (with_below, without_below)


def test_an_object_pipeline_needs_its_mask() -> None:
    frames, _, _ = two_objects_clip(2)
    with pytest.raises(MaskError, match="this pipeline follows one given object: pass init_mask"):
        Pipeline(["flow", ObjectAppearance(), "warp", "refine"]).run(frames)


def test_resemblances_are_each_labelled_regions_resemblance() -> None:
    mask = np.zeros((40, 60), bool)
    mask[10:30, 10:30] = True
    image = np.where(mask[..., None], texture((40, 60), seed=3, low=150, high=255), texture((40, 60), seed=4, high=100))
    model = ColourModel(8).fit(image, mask, ~mask)
    labels = np.zeros((40, 60), np.int32)
    labels[12:20, 12:20], labels[0:5, 40:60] = 1, 3  # region 2 is empty
    expected = [model.resemblance(image, labels == region) for region in (1, 2, 3)]
    assert model.resemblances(image, labels, 3).tolist() == expected
    assert expected[0] > 0 > expected[2] and expected[1] == -1.0


def test_a_part_of_the_carried_mask_that_looks_like_the_background_is_left_out() -> None:
    """A red object on blue; the mask carried into the next frame also holds a far part, striped two thirds blue and
    one third red. Its colours, as a whole, are the background's: followed among others it is no longer taken for
    part of the object, and its red stripes lose their evidence."""
    shape = (60, 120)
    image = np.zeros(shape + (3,), np.uint8)
    image[...] = (20, 40, 200)
    obj = np.zeros(shape, bool)
    obj[20:40, 10:30] = True
    part = np.zeros(shape, bool)
    part[20:44, 90:114] = True
    stripes = part & (np.arange(shape[1]) % 3 == 0)[None, :]
    image[obj | stripes] = (220, 30, 30)

    def evidence_on_stripes(drop: bool, carried: np.ndarray) -> float:
        stage = ObjectAppearance(among_others=drop, use_motion=False)
        still = {"flow_bwd": np.zeros(shape + (2,), np.float32), "flow_confidence": np.ones(shape, np.float32)}
        stage.process(Frame(index=0, image=image, data={**still, "init_mask": obj.astype(np.float32)}))
        out = stage.process(Frame(index=1, image=image, data={**still, "previous_mask": carried.astype(np.float32)}))
        return float(out["evidence"][stripes].mean())

    kept, left_out = evidence_on_stripes(False, obj | part), evidence_on_stripes(True, obj | part)
    assert kept > 0.5 > 0.1 > left_out, (kept, left_out)
    assert evidence_on_stripes(True, obj) == evidence_on_stripes(False, obj)  # one part: nothing to leave out


def test_an_exact_given_masks_surroundings_count_for_more_than_a_guessed_ones() -> None:
    """A red object on blue beside a red patch that the given mask leaves out; the mask carried into the next
    (still) frame has taken the patch in. What surrounded the object where it was given says the patch is
    background: from an exact mask (drawn, a label file) that counts for more than from a guess (a prompt's)."""
    shape = (60, 120)
    image = np.full(shape + (3,), (20, 40, 200), np.uint8)
    obj, patch = np.zeros(shape, bool), np.zeros(shape, bool)
    obj[20:40, 30:50] = True
    patch[24:36, 50:58] = True
    image[obj | patch] = (220, 30, 30)
    still = {"flow_bwd": np.zeros(shape + (2,), np.float32), "flow_confidence": np.ones(shape, np.float32)}

    def evidence_on_patch(exact: bool) -> float:
        stage = ObjectAppearance(use_motion=False)
        given = {"init_mask": obj.astype(np.float32), "init_mask_exact": np.array(exact)}
        stage.process(Frame(index=0, image=image, data={**still, **given}))
        carried = {"previous_mask": (obj | patch).astype(np.float32)}
        out = stage.process(Frame(index=1, image=image, data={**still, **carried}))
        return float(out["evidence"][patch].mean())

    exact, guessed = evidence_on_patch(True), evidence_on_patch(False)
    assert exact < 0.6 < 0.7 < guessed, (exact, guessed)


def test_surroundings_count_only_as_far_as_the_objects_motion_still_says_where_it_was_given() -> None:
    """A red object on blue, given beside a red patch of background 30 px to its left. The patch is gone from the
    later frames, and the object stays put on screen, but its flow says it moves 3 px right each frame (as a
    dancer's similarities can: each frame's fit to a body whose parts go their own ways). Composed over ten frames,
    those motions take the object back onto the patch where it was given, so what surrounded it there would say it is
    background; they no longer take the given object onto its mask, and that is not read."""
    shape = (60, 120)
    image = np.full(shape + (3,), (20, 40, 200), np.uint8)
    obj = np.zeros(shape, bool)
    obj[20:40, 30:50] = True
    image[obj] = (220, 30, 30)
    given = image.copy()
    given[20:40, 0:20] = (220, 30, 30)
    flow = np.zeros(shape + (2,), np.float32)
    flow[..., 0] = -3.0  # each pixel came from 3 px to its left
    trust = np.ones(shape, np.float32)
    stage = ObjectAppearance(use_motion=False)
    stage.process(Frame(index=0, image=given, data={"flow_bwd": flow, "flow_confidence": trust,
                                                    "init_mask": obj.astype(np.float32)}))
    carried = np.roll(obj, -3, axis=1).astype(np.float32)  # the flow carries it onto `obj`
    for index in range(1, 11):
        out = stage.process(Frame(index=index, image=image,
                                  data={"flow_bwd": flow, "flow_confidence": trust, "previous_mask": carried}))
    # Measured: 0.79 on frame 10; read through the drifted motions (before they were checked) 0.49, 0.39 on frame 8.
    assert out["evidence"][obj].mean() > 0.7, out["evidence"][obj].mean()


def test_a_spread_mask_moves_as_its_object_among_others() -> None:
    """A red object moves 4 px right while the camera pans the blue background, and two small red look-alikes on it,
    one either side, 3 px left; the mask carried into the next frame has spread over them and the blue around, six
    times the object's area. Followed among others, the object's motion is fitted to its red pixels, mostly the object's, and
    look-alikes, which move otherwise, lose their evidence; fitted to the whole spread mask, mostly blue, the
    object's motion is the camera's, and the look-alikes keep it."""
    shape = (60, 120)
    obj = np.zeros(shape, bool)
    obj[20:40, 20:40] = True
    look_alike = np.zeros(shape, bool)
    look_alike[25:35, [*range(4, 12), *range(70, 78)]] = True
    spread = np.zeros(shape, bool)
    spread[16:44, :100] = True

    def painted(*masks: np.ndarray) -> np.ndarray:
        image = np.full(shape + (3,), (20, 40, 200), np.uint8)
        for mask in masks:
            image[mask] = (220, 30, 30)
        return image

    moved, panned = np.roll(obj, 4, axis=1), np.roll(look_alike, -3, axis=1)
    flow = np.zeros(shape + (2,), np.float32)
    flow[..., 0] = 3.0  # backward flow: the background came from 3 px to the right
    flow[moved, 0] = -4.0
    data = {"flow_bwd": flow, "flow_confidence": np.ones(shape, np.float32)}

    def evidence_on_look_alike(among_others: bool) -> float:
        stage = ObjectAppearance(among_others=among_others, surroundings=False)  # the motion rule alone
        init = {**data, "init_mask": obj.astype(np.float32)}
        stage.process(Frame(index=0, image=painted(obj, look_alike), data=init))
        out = stage.process(Frame(index=1, image=painted(moved, panned),
                                  data={**data, "previous_mask": (obj | spread).astype(np.float32)}))
        return float(out["evidence"][panned].mean())

    own_pixels, whole_mask = evidence_on_look_alike(True), evidence_on_look_alike(False)
    assert whole_mask > 0.5 > own_pixels and whole_mask - own_pixels > 0.3, (own_pixels, whole_mask)


def test_the_evidence_worked_out_near_the_object_alone_gives_the_same_masks(monkeypatch) -> None:
    """Appearance and motion are worked out within REACH fall-offs of the object (and where its local colour
    models read the frame): the same masks as over the whole frame, with less work for a small object."""
    import flowseg.stages.appearance as appearance_module

    shape = (180, 320)
    background = texture(shape, seed=0, low=0, high=120)
    skin = texture(shape, seed=1, low=100, high=255)
    frames, truths = [], []
    for t in range(8):
        mask = object_mask(shape, (60 + 4 * t, 90 + t), 12)
        frame = np.roll(background, -2 * t, axis=1)  # the camera pans
        frame[mask] = np.roll(skin, 4 * t, axis=1)[mask]
        frames.append(frame)
        truths.append(mask)
    windows = []
    agreement = appearance_module.object_motion_agreement

    def spy(*args, **keywords):
        windows.append(args[3])
        return agreement(*args, **keywords)

    monkeypatch.setattr(appearance_module, "object_motion_agreement", spy)
    near = Pipeline().run(frames, init_mask=truths[0])
    worked_out = [w for w in windows if w is not None]
    assert worked_out and all((w[0].stop - w[0].start) * (w[1].stop - w[1].start) < 0.5 * shape[0] * shape[1]
                              for w in worked_out)  # fmt: skip
    monkeypatch.setattr(appearance_module, "REACH", 1e6)  # the whole frame
    whole = Pipeline().run(frames, init_mask=truths[0])
    for a, b, truth in zip(near, whole, truths):
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_allclose(a.prob, b.prob, atol=1e-5)
    assert np.mean([region_similarity(r.mask, t) for r, t in zip(near[1:], truths[1:])]) > 0.7
