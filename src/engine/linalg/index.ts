// Numerical linear algebra in float64 for GradOT's statistics and compression: dense products, Jacobi and
// randomized SVD, symmetric eigensolvers (plain, and the fast path: blocked tridiagonalisation with the O(n^3)
// products on ONNX Runtime, tridiagonal spectra in this thread or a worker). Knows nothing of models or GradOT.
export { matmul, matmulABt, transpose, matVec, toFloat64 } from './dense';
export { symmetricEigen } from './eigen';
export { orthonormalizeRows, reconstruct, svdFull, svdRandomized, truncateSvd, ZERO_SINGULAR_VALUE_RATIO, type RandomizedSvdOptions, type Svd } from './svd';
