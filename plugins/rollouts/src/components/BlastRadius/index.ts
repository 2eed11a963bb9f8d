export { BlastRadius, readBlastRadius } from './BlastRadius';
