export { BakeWatch, watchRemainingMs } from './BakeWatch';
