"""Research: parameter spaces, objectives, walk-forward folds, overfitting statistics
(deflated Sharpe, PBO by CSCV) and the Sharpe-difference test of run comparisons."""
