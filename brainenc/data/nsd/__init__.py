"""The Natural Scenes Dataset (NSD) reader: betas on disk to a prepared, out-of-core ``BrainData``.

Preparation follows the standard NSD recipe: single-trial betas (``betas_fithrf_GLMdenoise_RR``)
are z-scored per target within each session, the repeats of each image are averaged, the shared
1000 images form the test split, and the noise ceiling comes from NSD's ``ncsnr`` maps. Sessions are
streamed one at a time (one hemisphere or one volume at a time) into a chunked HDF5 store
(:mod:`brainenc.data.store`), so a full subject (~39 GB of fsaverage betas) never sits in memory.

ROIs: in ``fsaverage`` space, the fsaverage atlases (nsdgeneral, streams) are read directly, and the
subject's own ROIs (prf-visualrois, floc-faces / bodies / places / words), which NSD defines on the
subject's native surface, are carried to fsaverage with NSD's ``white-to-fsaverage`` transform
(nearest neighbour, as NSD's own ``nsd_mapdata`` does). In ``func1pt8mm`` space the subject's ROI
volumes are used as they are.

Modules, by job: :mod:`.design` (trials, images, the shared split), :mod:`.betas` (reading betas),
:mod:`.rois` (ROI files and names), :mod:`.sources` (one source per space), :mod:`.averaging`
(z-scoring and repeat averaging) and :mod:`.prepare` (:func:`prepare_nsd`, :func:`load_nsd`).
"""

from __future__ import annotations

from ..formats import label_masks, read_ctab, read_surface_map
from .averaging import zscore_rows
from .betas import BETAS_SCALE_INT16, read_volume_betas
from .design import TRIALS_PER_SESSION, NSDDesign, trial_layout
from .prepare import default_store_path, load_nsd, nsd_file, prepare_nsd
from .rois import COMBINED_ROIS, SUBJECT_LABELS, add_combined_rois

__all__ = [
    "BETAS_SCALE_INT16",
    "COMBINED_ROIS",
    "SUBJECT_LABELS",
    "TRIALS_PER_SESSION",
    "NSDDesign",
    "add_combined_rois",
    "default_store_path",
    "label_masks",
    "load_nsd",
    "nsd_file",
    "prepare_nsd",
    "read_ctab",
    "read_surface_map",
    "read_volume_betas",
    "trial_layout",
    "zscore_rows",
]
