export { OnCallPage, ownFirst } from './OnCallPage';
