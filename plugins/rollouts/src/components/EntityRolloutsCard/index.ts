export { EntityRolloutsCard } from './EntityRolloutsCard';
