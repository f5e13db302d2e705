export * from './coordinator';
export * from './node';
export * from './store';
export * from './service';
export * from './server';
