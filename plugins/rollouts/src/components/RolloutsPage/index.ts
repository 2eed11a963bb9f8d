export { RolloutsPage, KpiTiles } from './RolloutsPage';
