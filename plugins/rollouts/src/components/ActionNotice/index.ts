export { ActionNotice, type ActionNoticeValue } from './ActionNotice';
