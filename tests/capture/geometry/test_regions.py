import numpy as np
import pytest

from id2reflectance.capture.geometry.regions import REGION_NAMES, region_masks, uv_raster
from id2reflectance.errors import ConfigError


def test_uv_raster_padded_and_scaled():
    r = uv_raster(64)
    assert r.covered.mean() > 0.99 and (r.face_id >= 0).all()
    np.testing.assert_allclose(r.bary.sum(-1), 1.0, atol=1e-5)
    # the texel in the middle of the chart is on the front of the face
    assert r.position[32, 32, 2] > 0.08
    # 512 texels resolve the face at about half a millimetre: 64 texels at 8x that
    assert 0.5e-3 * 8 < r.texel_size < 0.7e-3 * 8
    with pytest.raises(ConfigError):
        uv_raster(4)


def test_region_masks_are_mirror_symmetric_weights():
    g = region_masks(64)
    assert set(g) == set(REGION_NAMES)
    for name, m in g.items():
        assert m.shape == (64, 64) and m.dtype == np.float32
        assert 0.0 <= m.min() and m.max() <= 1.0, name
        # u <-> 1 - u is x <-> -x, up to the quads' diagonals (all cut the same way)
        np.testing.assert_allclose(m[2:], m[2:, ::-1], atol=0.05, err_msg=name)
        if name not in ("lash_line",):
            assert m.max() > 0.5, name
    # eyebrows above the lashes above the lips, all on the face
    rows = {k: np.average(np.arange(64), weights=g[k].sum(1)) for k in ("eyebrows", "lash_line", "lips", "beard")}
    assert rows["eyebrows"] < rows["lash_line"] < rows["lips"] < rows["beard"] + 2
