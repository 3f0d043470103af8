"""Processing of bar and tick data: resampling, tick aggregation, multi-venue alignment."""

from arbx.domain.processing.align import align_series
from arbx.domain.processing.resample import check_resample, resample
from arbx.domain.processing.ticks import coerce_ticks, ticks_to_bars

__all__ = ["align_series", "check_resample", "coerce_ticks", "resample", "ticks_to_bars"]
